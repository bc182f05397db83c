from kernel.platform.migrations import run_env
from services.approval.models import Base

run_env(Base.metadata)
