from torget_shared.migrations import run_env

from torget_school_directory.models import metadata

run_env(metadata)
