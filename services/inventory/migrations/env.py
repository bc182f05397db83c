from kernel.platform.migrations import run_env
from services.inventory.models import Base

run_env(Base.metadata)
