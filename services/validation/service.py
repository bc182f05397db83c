"""Validation: automatic checks on submitted deposits. Entrypoints only; checks are in checks.py."""
from sqlalchemy import select

from services.common import contracts as c
from services.common.dependencies import FileStorage, Store
from services.common.exceptions import NotFound
from services.common.messaging import handles_event, rpc
from services.validation import checks
from services.validation.models import ValidationReport


class ValidationService:
    name = "validation"

    store = Store()
    storage = FileStorage()

    @handles_event("intake", "deposit_submitted")
    def on_deposit_submitted(self, event):
        key = c.dedupe_key("intake", "deposit_submitted", event)
        deposit = event["deposit"]
        report = self._run_checks(deposit)
        with self.store.unit_of_work() as uow:
            if not uow.first_time(key):
                return
            dumped = c.validation_report_schema.dump(report)
            uow.session.add(ValidationReport(deposit_id=deposit["id"], revision=deposit["revision"],
                                             passed=report["passed"], report=dumped))
            uow.emit("deposit_validated", c.new_event(
                "validation", "deposit_validated", deposit_id=deposit["id"],
                revision=deposit["revision"], passed=report["passed"], report=dumped,
                deposit=deposit))

    def _run_checks(self, deposit):
        rules = deposit["profile"]["file_rules"]
        file_reports = []
        for stored in deposit["files"]:
            key = stored["storage_key"]
            if self.storage.exists(key):
                head, actual = self.storage.head(key, checks.SNIFF_BYTES), self.storage.digest(key).sha256
            else:
                head, actual = b"", None
            result = checks.check_file(stored["filename"], stored["size"], head, rules)
            result["checks"].append(checks.fixity_check(stored["sha256"], actual))
            result["passed"] = all(check["passed"] for check in result["checks"])
            file_reports.append({"file_id": stored["id"], **result})
        return checks.build_report(deposit["revision"],
                                   checks.deposit_checks(deposit["files"], rules), file_reports)

    @rpc
    @c.rpc_contract(c.DepositReportRequest, c.ValidationReportSchema())
    def get_report(self, deposit_id, revision):
        with self.store.reading() as session:
            row = session.scalar(select(ValidationReport).where(
                ValidationReport.deposit_id == deposit_id, ValidationReport.revision == revision))
            if row is None:
                raise NotFound("No report yet for that revision.")
            return c.validation_report_schema.load(row.report)

    @rpc
    @c.rpc_contract(c.CheckFileRequest)
    def check_file(self, storage_key, filename, file_rules):
        """The quick pre-check at upload time: size, extension and format."""
        head = self.storage.head(storage_key, checks.SNIFF_BYTES)
        return checks.check_file(filename, self.storage.size(storage_key), head, file_rules)
