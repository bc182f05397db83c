"""What intake does with deposits and profiles, free of nameko: plain functions over a unit of
work."""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from kernel.contracts.actors import SYSTEM, Actor
from kernel.contracts.campus import Mode
from kernel.contracts.deposits import Status
from kernel.contracts.events import new_event
from kernel.contracts.exceptions import Conflict, Forbidden, InvalidInput, NotFound
from kernel.contracts.validation_messages import render
from kernel.platform.config import Quotas
from kernel.platform.db import UnitOfWork
from kernel.platform.metrics import DEPOSITS_SUBMITTED
from kernel.policy.file_rules import extension_refusal
from kernel.policy.permissions import (
    STAFF,
    Action,
    can,
    holds_any_role,
    is_own_deposit,
    require,
)
from services.intake import lifecycle
from services.intake import quotas as room
from services.intake.lifecycle import EDITABLE
from services.intake.metadata import checked_metadata, title_of, validate_metadata
from services.intake.models import (
    Deposit,
    DepositFile,
    HistoryEntry,
    Profile,
    ProfileVersion,
)

# --- profiles ---------------------------------------------------------------


# A saved profile version never changes (a change is a new version), so the definition of a
# pinned one is read once per process and database: every deposit's edit, upload and
# submit reads its pinned version. Keyed by the engine, so another database (a test's)
# never sees these.
_PINNED: WeakKeyDictionary[Any, dict[tuple[str, int], dict[str, Any]]] = WeakKeyDictionary()


def profile_definition(
    session: Session, profile_id: str, version: int | None = None
) -> dict[str, Any]:
    """The definition of a profile's `version` (None: its current one). Callers read it; a
    pinned version's nested values are shared with other calls."""
    if version is not None:
        pinned = _PINNED.setdefault(session.get_bind(), {})
        if (profile_id, version) not in pinned:
            pinned[(profile_id, version)] = _read_definition(session, profile_id, version)
        return dict(pinned[(profile_id, version)])
    return _read_definition(session, profile_id, None)


def _read_definition(session: Session, profile_id: str, version: int | None) -> dict[str, Any]:
    profile = session.get(Profile, profile_id)
    if profile is None:
        raise NotFound(f"There is no profile {profile_id!r}.", fields={"profile_id": ["unknown"]})
    row = session.get(ProfileVersion, (profile_id, version or profile.current_version))
    if row is None:
        raise NotFound(
            f"Profile {profile_id!r} has no version {version}.",
            fields={"version": ["unknown version"]},
        )
    return {**row.definition, "id": profile_id, "version": row.version}


def may_use_profile(actor: Actor, definition: dict[str, Any]) -> bool:
    if can(actor, Action.SEE_ALL_DEPOSITS):
        return True
    if not definition["active"]:
        return False
    allowed = definition["allowed_groups"]
    return not allowed or actor.in_any_group(allowed)


DEFAULT_MEDIATORS = {"roles": [STAFF], "groups": []}


def mediators(definition: dict[str, Any]) -> dict[str, Any] | None:
    """Who may deposit with the profile on a patron's behalf: whom it names; if it names
    nobody, the staff role, but only while it is active and open to every group (None:
    nobody)."""
    named: dict[str, Any] | None = definition.get("mediators")
    if named is not None:
        return named
    if definition["active"] and not definition["allowed_groups"]:
        return DEFAULT_MEDIATORS
    return None


def may_mediate(actor: Actor, definition: dict[str, Any]) -> bool:
    """Staff may deposit for a patron with a profile whose mediators name their role or group."""
    rule = mediators(definition)
    if rule is None or not can(actor, Action.MEDIATE):
        return False
    return (bool(rule["roles"]) and holds_any_role(actor, rule["roles"])) or actor.in_any_group(
        rule["groups"]
    )


def list_profiles(
    session: Session, actor: Actor, include_inactive: bool = False, mediated: bool = False
) -> list[dict[str, Any]]:
    """The profiles the actor may deposit with; staff may ask for inactive ones too, or
    for those they may deposit with on a patron's behalf."""
    profiles = session.scalars(select(Profile).order_by(Profile.name)).all()
    # each current version by number: read once per process, not once a profile a call
    definitions = [profile_definition(session, p.id, p.current_version) for p in profiles]
    if mediated:
        return [d for d in definitions if may_mediate(actor, d)]
    if not (include_inactive and can(actor, Action.SEE_ALL_DEPOSITS)):
        definitions = [d for d in definitions if d["active"]]
    return [d for d in definitions if may_use_profile(actor, d)]


def usable_profile(
    session: Session, actor: Actor, profile_id: str, version: int | None = None
) -> dict[str, Any]:
    definition = profile_definition(session, profile_id, version)
    if not may_use_profile(actor, definition):
        raise Forbidden("You may not use this profile.", fields={"profile_id": ["not allowed"]})
    return definition


def profile_versions(session: Session, profile_id: str) -> Sequence[ProfileVersion]:
    profile_definition(session, profile_id)  # NotFound for an unknown profile
    return session.scalars(
        select(ProfileVersion)
        .where(ProfileVersion.profile_id == profile_id)
        .order_by(ProfileVersion.version.desc())
    ).all()


def save_profile(
    uow: UnitOfWork, actor: Actor, profile_id: str, definition: dict[str, Any], create: bool = False
) -> dict[str, Any]:
    """Create a profile (`create`), or add a version to an existing one."""
    session = uow.session
    profile = session.get(Profile, profile_id)
    if create and profile is not None:
        raise Conflict("A profile with that id exists already.", fields={"id": ["already used"]})
    if not create and profile is None:
        raise NotFound(f"There is no profile {profile_id!r}.")
    clash = session.scalar(
        select(Profile).where(Profile.name == definition["name"], Profile.id != profile_id)
    )
    if clash is not None:
        raise InvalidInput("Another profile has that name.", fields={"name": ["already used"]})
    if profile is None:
        profile = Profile(id=profile_id, name=definition["name"], current_version=1)
        session.add(profile)
    else:
        profile.current_version += 1
        profile.name = definition["name"]
    profile.active = definition["active"]
    session.add(
        ProfileVersion(
            profile_id=profile_id,
            version=profile.current_version,
            definition=definition,
            created_by=actor.id,
        )
    )
    session.flush()
    return profile_definition(session, profile_id)


# --- deposits ---------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _visible(actor: Actor, deposit: Deposit) -> bool:
    return actor.id in (
        deposit.depositor_id,
        deposit.mediator_id,
        deposit.origin_account_id,
    ) or can(actor, Action.SEE_ALL_DEPOSITS)


def _owners(deposit: Deposit) -> dict[str, str | None]:
    """Who made the deposit: its depositor and, for one made for a patron, its mediator."""
    return {
        "depositor_id": deposit.depositor_id,
        "mediator_id": (deposit.mediated_by or {}).get("id"),
    }


def _may_act_as_depositor(actor: Actor, deposit: Deposit) -> bool:
    return (
        is_own_deposit(actor, **_owners(deposit))
        or _system_draft(actor, deposit)
        or can(actor, Action.ACT_FOR_ANY_DEPOSITOR)
    )


def _system_draft(actor: Actor, deposit: Deposit) -> bool:
    """The campus system that made a deposit for a patron completes it (files, terms,
    submission) while it is a draft; after that it is the patron's."""
    return deposit.origin_account_id == actor.id and deposit.status == Status.DRAFT


def get_deposit(
    session: Session, actor: Actor, deposit_id: str, for_update: bool = False
) -> Deposit:
    """The deposit if the actor may see it; otherwise NotFound, so nothing leaks."""
    query = select(Deposit).where(Deposit.id == deposit_id)
    if for_update:
        query = query.with_for_update()
    deposit = session.scalar(query)
    if deposit is None or not _visible(actor, deposit):
        raise NotFound("There is no such deposit.")
    return deposit


def depositor_deposit(session: Session, actor: Actor, deposit_id: str) -> Deposit:
    deposit = get_deposit(session, actor, deposit_id, for_update=True)
    if not _may_act_as_depositor(actor, deposit):
        raise Forbidden("Only the depositor may do this.")
    return deposit


def create_deposit(
    uow: UnitOfWork,
    actor: Actor,
    profile_id: str,
    metadata: dict[str, Any],
    on_behalf_of: Actor | None,
    quotas: Quotas,
    origin: dict[str, Any] | None = None,
) -> Deposit:
    """`origin`: a campus system's request, `actor` being the system's account. The gateway
    checked the system's registration for the profile and mode, so the staff role and the
    profile's mediators do not apply; in mode `mediated` the deposit skips approval like a
    staff-mediated one, otherwise the patron is its depositor as usual."""
    if origin is not None:
        definition = _system_profile(uow.session, actor, profile_id, on_behalf_of)
        mediated = origin["mode"] == Mode.MEDIATED
    else:
        definition = _profile_to_deposit_with(uow.session, actor, profile_id, on_behalf_of)
        mediated = on_behalf_of is not None
    metadata = checked_metadata(definition["fields"], metadata, complete=False)
    depositor = on_behalf_of or actor
    room.require_room_for_draft(uow.session, depositor.id, quotas)
    now = _now()
    deposit = Deposit(
        id=uuid.uuid4().hex,
        profile_id=profile_id,
        profile_version=definition["version"],
        status=Status.DRAFT,
        revision=1,
        title=title_of(definition["fields"], metadata),
        meta=metadata,
        depositor_id=depositor.id,
        depositor=depositor.person_ref(),
        mediated_by=actor.person_ref() if mediated else None,
        mediator_id=actor.id if mediated else None,
        access_policy="campus" if definition["access"] == "campus" else "open",
        origin=origin,
        origin_account_id=actor.id if origin is not None else None,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(deposit)
    _record(
        uow,
        deposit,
        lifecycle.Step("create", 1, None, Status.DRAFT, actor.person_ref(), None, None, now),
        emit=False,
    )
    uow.session.flush()
    return deposit


def _system_profile(
    session: Session, actor: Actor, profile_id: str, on_behalf_of: Actor | None
) -> dict[str, Any]:
    if on_behalf_of is None or on_behalf_of.id == actor.id:
        raise InvalidInput(
            "A campus system deposits for a patron, never for itself.",
            fields={"on_behalf_of": ["is required"] if on_behalf_of is None else ["is itself"]},
        )
    definition = profile_definition(session, profile_id)
    if not definition["active"]:
        raise Forbidden(
            "This profile takes no deposits now.", fields={"profile_id": ["is inactive"]}
        )
    return definition


def _profile_to_deposit_with(
    session: Session, actor: Actor, profile_id: str, on_behalf_of: Actor | None
) -> dict[str, Any]:
    if on_behalf_of is not None and not can(actor, Action.MEDIATE):
        raise Forbidden(
            "Only staff may deposit on behalf of someone.",
            fields={"on_behalf_of": ["needs the staff role"]},
        )
    if on_behalf_of is not None and on_behalf_of.id == actor.id:
        # a deposit on one's own behalf would skip approval: staff deposit for themselves
        # like everyone else
        raise InvalidInput(
            "You cannot deposit on your own behalf.", fields={"on_behalf_of": ["is yourself"]}
        )
    definition = usable_profile(session, actor, profile_id)
    if on_behalf_of is not None and not may_mediate(actor, definition):
        # such a deposit skips approval: only those the profile names may make one
        raise Forbidden(
            "This profile does not let you deposit on a patron's behalf.",
            fields={"profile_id": ["does not name you among its mediators"]},
        )
    return definition


def update_deposit(
    uow: UnitOfWork,
    actor: Actor,
    deposit_id: str,
    metadata: dict[str, Any] | None,
    accept_terms: bool | None,
    access: dict[str, Any] | None,
) -> Deposit:
    """Change what the depositor controls while the deposit is a draft or returned:
    metadata, acceptance of the terms, and the access chosen within the profile's policy."""
    deposit = depositor_deposit(uow.session, actor, deposit_id)
    _require_editable(deposit)
    definition = profile_definition(uow.session, deposit.profile_id, deposit.profile_version)
    if metadata is not None:
        metadata = checked_metadata(definition["fields"], metadata, complete=False)
        deposit.meta = metadata
        deposit.title = title_of(definition["fields"], metadata)
    if access is not None:
        _check_access(definition, access)
        deposit.access_policy, deposit.embargo_until = access["policy"], access["embargo_until"]
    if accept_terms is not None:
        deposit.terms_accepted_at = _now() if accept_terms else None
        deposit.terms_version = deposit.profile_version if accept_terms else None
    deposit.updated_at = _now()
    return deposit


APPROVER_EDIT = "metadata_edited_by_approver"


def review_metadata(
    uow: UnitOfWork, actor: Actor, deposit_id: str, metadata: dict[str, Any]
) -> Deposit:
    """An approver corrects the metadata of a deposit in review before deciding. It must be
    complete and valid for the pinned profile; the history records who changed what."""
    if not can(actor, Action.DECIDE):
        raise Forbidden("Editing a deposit under review needs the approver role.")
    deposit = get_deposit(uow.session, actor, deposit_id, for_update=True)
    require(actor, Action.DECIDE, **_owners(deposit))
    if deposit.status != Status.IN_REVIEW:
        raise Conflict(
            f"Only a deposit in review can be edited by an approver; this one is {deposit.status}.",
            fields={"status": [f"is {deposit.status}"]},
        )
    definition = profile_definition(uow.session, deposit.profile_id, deposit.profile_version)
    metadata = checked_metadata(definition["fields"], metadata, complete=True)
    changed = sorted(
        key
        for key in set(deposit.meta) | set(metadata)
        if deposit.meta.get(key) != metadata.get(key)
    )
    if not changed:
        return deposit
    deposit.meta, deposit.title = metadata, title_of(definition["fields"], metadata)
    _record(
        uow,
        deposit,
        lifecycle.Step(
            "review_metadata",
            deposit.revision,
            Status.IN_REVIEW,
            Status.IN_REVIEW,
            actor.person_ref(),
            APPROVER_EDIT,
            "Changed: " + ", ".join(changed),
            _now(),
        ),
        emit=False,
    )
    return deposit


def add_months(start: date, months: int) -> date:
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _check_access(definition: dict[str, Any], access: dict[str, Any]) -> None:
    policy = definition["access"]
    allowed = {"open": {"open"}, "campus": {"campus"}, "embargo": {"open", "embargo"}}[policy]
    if access["policy"] not in allowed:
        raise InvalidInput(
            "This profile does not offer that access.",
            fields={"access": {"policy": [f"must be one of: {', '.join(sorted(allowed))}"]}},
        )
    until = access["embargo_until"]
    if access["policy"] == "embargo":
        latest = add_months(date.today(), definition["embargo_max_months"])
        if until is None or not date.today() < until <= latest:
            raise InvalidInput(
                "Choose an embargo end date within the profile's limit.",
                fields={
                    "access": {
                        "embargo_until": [
                            f"must be after today and no later than {latest.isoformat()}"
                        ]
                    }
                },
            )
    elif until is not None:
        raise InvalidInput(
            "Only an embargo has an end date.",
            fields={"access": {"embargo_until": ["only for an embargo"]}},
        )


def _require_editable(deposit: Deposit) -> None:
    if deposit.status not in EDITABLE:
        raise Conflict(
            f"A deposit that is {deposit.status} cannot be changed.",
            fields={"status": [f"is {deposit.status}"]},
        )


def upload_policy(
    session: Session, actor: Actor, deposit_id: str, quotas: Quotas
) -> dict[str, Any]:
    """What the next upload to this deposit may be; the gateway enforces it as bytes arrive.
    `quota` is the depositor's room for staged bytes, before unfinished uploads take theirs."""
    deposit = depositor_deposit(session, actor, deposit_id)
    _require_editable(deposit)
    rules = profile_definition(session, deposit.profile_id, deposit.profile_version)["file_rules"]
    used = sum(f.size for f in deposit.files)
    _require_room_for_a_file(deposit, rules)
    staged_room = room.staged_room(session, deposit.depositor_id, quotas)
    if staged_room <= 0:
        raise room.staging_full(staged_room, quotas)
    return {
        "deposit_id": deposit.id,
        "max_file_size": min(rules["max_file_size"], rules["max_total_size"] - used, staged_room),
        "allowed_extensions": rules["allowed_extensions"],
        "file_rules": rules,  # for validation's pre-check of the upload
        "quota": room.usage(session, deposit.depositor_id, quotas),
    }


def _require_room_for_a_file(deposit: Deposit, rules: dict[str, Any]) -> None:
    if len(deposit.files) >= rules["max_files"]:
        raise Conflict(
            f"This deposit already has the most files allowed ({rules['max_files']}).",
            fields={"file": ["too many files"]},
        )


def add_file(
    uow: UnitOfWork, actor: Actor, deposit_id: str, file: dict[str, Any], quotas: Quotas
) -> DepositFile:
    deposit = depositor_deposit(uow.session, actor, deposit_id)
    _require_editable(deposit)
    room.require_room_for_bytes(uow.session, deposit.depositor_id, file["size"], quotas)
    rules = profile_definition(uow.session, deposit.profile_id, deposit.profile_version)[
        "file_rules"
    ]
    _require_room_for_a_file(deposit, rules)
    if sum(f.size for f in deposit.files) + file["size"] > rules["max_total_size"]:
        raise InvalidInput(
            "The deposit's files would exceed the total size allowed.",
            fields={"file": [f"total over {rules['max_total_size']} bytes"]},
        )
    _check_format(rules, file)
    record = DepositFile(**file, created_at=_now())
    deposit.files.append(record)
    deposit.updated_at = _now()
    uow.session.flush()
    return record


def _check_format(rules: dict[str, Any], file: dict[str, Any]) -> None:
    """The profile's allowed formats, checked at upload so the depositor hears at once."""
    refusal = extension_refusal(file["filename"], rules)
    if refusal:
        raise InvalidInput(
            render(refusal["code"], refusal["params"]),
            fields={"file": [f"accepted: {refusal['params']['accepted']}"]},
        )
    types = rules["allowed_media_types"]
    if types and file["media_type"] not in types:
        raise InvalidInput(
            f"Files whose content is {file['media_type']} are not accepted here.",
            fields={"file": [f"accepted: {', '.join(types)}"]},
        )


def remove_file(uow: UnitOfWork, actor: Actor, deposit_id: str, file_id: str) -> str:
    """Remove a file from the deposit; returns its storage key to delete after commit."""
    deposit = depositor_deposit(uow.session, actor, deposit_id)
    _require_editable(deposit)
    record = next((f for f in deposit.files if f.id == file_id), None)
    if record is None:
        raise NotFound("The deposit has no such file.")
    deposit.files.remove(record)
    deposit.updated_at = _now()
    return record.storage_key


def submit(uow: UnitOfWork, actor: Actor, deposit_id: str) -> Deposit:
    deposit = depositor_deposit(uow.session, actor, deposit_id)
    if deposit.origin_account_id == actor.id and (deposit.origin or {}).get("mode") == Mode.DRAFT:
        raise Forbidden(
            "The patron submits a draft this system made.",
            fields={"submit": ["the system's mode for this profile is draft"]},
        )
    definition = profile_definition(uow.session, deposit.profile_id, deposit.profile_version)
    if not lifecycle.Submit.allowed_from(deposit.status):
        lifecycle.Submit.apply(deposit, actor.person_ref())  # raises the clear InvalidTransition
    problems = submission_problems(definition, deposit)
    metadata_errors = validate_metadata(definition["fields"], deposit.meta, complete=True)
    if metadata_errors:
        problems["metadata"] = metadata_errors
    if problems:
        raise InvalidInput("The deposit is not ready to submit.", fields=problems)
    step = lifecycle.Submit.apply(deposit, actor.person_ref())
    deposit.validation_report = None
    _record(uow, deposit, step)
    uow.emit(
        "deposit_submitted",
        new_event(
            "intake",
            "deposit_submitted",
            deposit_id=deposit.id,
            revision=deposit.revision,
            deposit=snapshot(deposit, definition),
        ),
    )
    uow.after_commit(DEPOSITS_SUBMITTED.labels(deposit.profile_id).inc)
    return deposit


def submission_problems(definition: dict[str, Any], deposit: Deposit) -> dict[str, Any]:
    """What still stands between the deposit and submission, besides its metadata."""
    rules, count, problems = definition["file_rules"], len(deposit.files), {}
    needed = max(rules["min_files"], 1)
    if count == 0 and rules["metadata_only_allowed"]:
        pass
    elif count < needed:
        problems["files"] = [
            "at least one file is needed" if needed == 1 else f"at least {needed} files are needed"
        ]
    if definition["terms"] and deposit.terms_version != deposit.profile_version:
        problems["accept_terms"] = ["the terms must be accepted"]
    return problems


def allowed_actions(actor: Actor, deposit: Deposit) -> list[str]:
    """What the actor may do to the deposit now, so pages offer nothing else."""
    if not _may_act_as_depositor(actor, deposit):
        return []
    actions = []
    if deposit.status in EDITABLE:
        actions += ["edit", "submit"]
    if lifecycle.Withdraw.allowed_from(deposit.status):
        actions.append("withdraw")
    return actions


def withdraw(
    uow: UnitOfWork,
    actor: Actor,
    deposit_id: str,
    note: str | None,
    cancel_review: Callable[..., object],
) -> Deposit:
    """`cancel_review(deposit_id, revision)` stops approval first, so no decision can follow."""
    deposit = depositor_deposit(uow.session, actor, deposit_id)
    if deposit.status in (Status.SUBMITTED, Status.IN_REVIEW):
        cancel_review(deposit_id=deposit.id, revision=deposit.revision)
    step = lifecycle.Withdraw.apply(deposit, actor.person_ref(), note=note)
    _record(uow, deposit, step)
    uow.emit(
        "deposit_withdrawn",
        new_event(
            "intake",
            "deposit_withdrawn",
            deposit_id=deposit.id,
            revision=deposit.revision,
            actor=actor.person_ref(),
        ),
    )
    return deposit


def snapshot(deposit: Deposit, definition: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": deposit.id,
        "revision": deposit.revision,
        "title": deposit.title,
        "profile": {
            key: definition[key]
            for key in (
                "id",
                "version",
                "name",
                "fields",
                "file_rules",
                "approval",
                "target_collection",
                "access",
                "resource_type",
            )
        },
        "depositor": deposit.depositor,
        "mediated_by": deposit.mediated_by,
        "metadata": deposit.meta,
        "access": {"policy": deposit.access_policy, "embargo_until": deposit.embargo_until},
        "new_version_of": deposit.new_version_of,
        "origin": deposit.origin,
        "files": [
            {
                "id": f.id,
                "filename": f.filename,
                "size": f.size,
                "sha256": f.sha256,
                "md5": f.md5,
                "media_type": f.media_type,
                "storage_key": f.storage_key,
            }
            for f in deposit.files
        ],
    }


def _record(uow: UnitOfWork, deposit: Deposit, step: lifecycle.Step, emit: bool = True) -> None:
    # added directly, not through deposit.history, so the history is never loaded here
    uow.session.add(
        HistoryEntry(
            deposit_id=deposit.id,
            revision=step.revision,
            from_status=step.from_status,
            to_status=step.to_status,
            actor=step.actor,
            reason_code=step.reason_code,
            reason_label=step.reason_label,
            note=step.note,
            at=step.at,
        )
    )
    deposit.updated_at = step.at
    if emit:
        uow.emit(
            "deposit_status_changed",
            new_event(
                "intake",
                "deposit_status_changed",
                deposit_id=deposit.id,
                revision=deposit.revision,
                from_status=step.from_status,
                to_status=step.to_status,
                actor=step.actor,
                reason_code=step.reason_code,
                reason_label=step.reason_label,
                note=step.note,
                title=deposit.title,
                depositor=deposit.depositor,
                item_id=deposit.item_id,
                item_identifier=deposit.item_identifier,
                item_doi=deposit.item_doi,
                report=deposit.validation_report,
                mediated_by=deposit.mediated_by,
                origin=deposit.origin,
                review=_review_rule(uow.session, deposit, step),
            ),
        )


def _review_rule(session: Session, deposit: Deposit, step: lifecycle.Step) -> dict[str, Any] | None:
    """The approval rule letters need to tell the profile's approvers; only on entering review."""
    if step.to_status != Status.IN_REVIEW:
        return None
    definition = profile_definition(session, deposit.profile_id, deposit.profile_version)
    return {"profile_name": definition.get("name", ""), **definition["approval"]}


def list_deposits(
    session: Session,
    actor: Actor,
    status: str | None,
    depositor_id: str | None,
    page: int,
    per_page: int,
) -> dict[str, Any]:
    query = select(Deposit)
    if can(actor, Action.SEE_ALL_DEPOSITS):
        if depositor_id:
            query = query.where(Deposit.depositor_id == depositor_id)
    else:
        query = query.where(Deposit.depositor_id == actor.id)
    if status:
        query = query.where(Deposit.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(
        query.order_by(Deposit.updated_at.desc(), Deposit.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return {"items": rows, "page": page, "per_page": per_page, "total": total}


def search_deposits(
    session: Session,
    actor: Actor,
    status: str | None,
    profile_id: str | None,
    title: str | None,
    depositor_ids: list[str],
    depositor_id: str | None,
    page: int,
    per_page: int,
) -> dict[str, Any]:
    """Every deposit, for staff, newest change first: where each submission is now.
    Words match the title, or the depositors the gateway found for the same words."""
    if not can(actor, Action.SEE_ALL_DEPOSITS):
        raise Forbidden("The list of every deposit is for staff.")
    query = select(Deposit)
    if status:
        query = query.where(Deposit.status == status)
    if profile_id:
        query = query.where(Deposit.profile_id == profile_id)
    if depositor_id:
        query = query.where(Deposit.depositor_id == depositor_id)
    if title or depositor_ids:
        matches: list[ColumnElement[bool]] = (
            [Deposit.depositor_id.in_(depositor_ids)] if depositor_ids else []
        )
        if title:
            matches.append(Deposit.title.icontains(title, autoescape=True))
        query = query.where(or_(*matches))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(
        query.order_by(Deposit.updated_at.desc(), Deposit.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return {"items": rows, "page": page, "per_page": per_page, "total": total}


# --- outcomes from other services ------------------------------------------


def apply_outcome(
    uow: UnitOfWork,
    key: str,
    deposit_id: str,
    revision: int,
    action: type[lifecycle.Action],
    actor: dict[str, Any],
    reason_code: str | None = None,
    note: str | None = None,
    implied_decision: dict[str, Any] | None = None,
    reason_label: str | None = None,
    **changes: Any,
) -> None:
    """Move a deposit on an outcome event, once, and only for its current revision.

    Outcomes can overtake each other across queues; `lifecycle.plan` records the steps an
    outcome implies first. `implied_decision` is who decided, for an implied approval.
    """
    if not uow.first_time(key):
        return
    deposit = uow.session.scalar(select(Deposit).where(Deposit.id == deposit_id).with_for_update())
    if deposit is None or deposit.revision != revision:
        return
    for step_action in lifecycle.plan(deposit.status, action):
        if step_action is action:
            for name, value in changes.items():
                setattr(deposit, name, value)
            step = replace(
                step_action.apply(deposit, actor, reason_code, note), reason_label=reason_label
            )
        elif step_action is lifecycle.Approve and implied_decision:
            step = step_action.apply(
                deposit,
                implied_decision["actor"],
                implied_decision.get("reason_code"),
                implied_decision.get("note"),
            )
        else:
            step = step_action.apply(deposit, SYSTEM.person_ref())
        _record(uow, deposit, step)
