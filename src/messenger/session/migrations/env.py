from messenger.platform.migrations import run_env
from messenger.session.store import metadata

run_env(metadata)
