from torget_shared.migrations import run_env

from torget_attendance.models import metadata

run_env(metadata)
