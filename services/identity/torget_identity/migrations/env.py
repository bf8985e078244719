from torget_shared.migrations import run_env

from torget_identity.models import metadata

run_env(metadata)
