from messenger.platform.migrations import run_env
from messenger.auth.store import metadata

run_env(metadata)
