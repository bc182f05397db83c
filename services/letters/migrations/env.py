from kernel.platform.migrations import run_env
from services.letters.models import Base

run_env(Base.metadata)
