from messenger.messaging.store import metadata
from messenger.platform.migrations import run_env

run_env(metadata)
