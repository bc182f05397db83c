from kernel.platform.migrations import run_env
from services.validation.models import Base

run_env(Base.metadata)
