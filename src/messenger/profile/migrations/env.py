from messenger.platform.migrations import run_env
from messenger.profile.store import metadata

run_env(metadata)
