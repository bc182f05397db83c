"""Where each service class lives, so commands import only what they run."""

import importlib

SERVICE_CLASSES = {
    "intake": "services.intake.service:IntakeService",
    "validation": "services.validation.service:ValidationService",
    "approval": "services.approval.service:ApprovalService",
    "letters": "services.letters.service:LettersService",
    "inventory": "services.inventory.service:InventoryService",
}


def service_class(name: str):
    module, _, attribute = SERVICE_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)
