from messenger.auth.store import metadata
from messenger.platform.migrations import run_env

run_env(metadata)
