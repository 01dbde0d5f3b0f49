"""Logs > Mail download history: scan runs, live progress, run manually, stop, retry."""

from __future__ import annotations

import logging

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import or_, select

from corpmail.admin import bp
from corpmail.admin.forms import PostForm
from corpmail.extensions import db
from corpmail.models import MessageFailure, ScanEvent, ScanRun

log = logging.getLogger(__name__)
PER_PAGE = 30
RETRY_OUTCOMES = {
    "stored": (_l("stored."), "success"),
    "duplicate": (
        _l("already stored (same Message-ID); marked as seen in this mailbox."),
        "success",
    ),
    "skipped": (_l("skipped by the filters (see the run's events)."), "info"),
    "failed": (_l("it failed again:"), "danger"),
    "gone": (_l("the message is no longer on the server and no copy was kept."), "warning"),
    "busy": (_l("the mailbox is being scanned right now; try again in a moment."), "warning"),
    "not found": (_l("this failure no longer exists."), "warning"),
    "resolved": (_l("this message was already stored."), "info"),
}
COUNTERS = ("fetched", "stored", "duplicates", "skipped", "failed", "quarantined")


def _in_progress_ids() -> list[int]:
    from corpmail.scanner.lease import close_stale_runs

    close_stale_runs()  # a run whose process died must not keep the button disabled
    return list(
        db.session.scalars(
            select(ScanRun.id).where(ScanRun.status == "In progress").order_by(ScanRun.id)
        )
    )


def run_as_json(run: ScanRun) -> dict:
    data = {name: getattr(run, name) for name in COUNTERS}
    data.update(
        id=run.id,
        status=run.status,
        account=run.account_name,
        duration_s=run.duration_s,
        error=run.error,
        stop_requested=run.stop_requested,
    )
    return data


@bp.route("/runs")
def runs():
    # With push mode and a short interval most scheduled passes find nothing: the admin
    # may look at the runs that did something (mail, a skip, an error) only.
    busy_only = request.args.get("show") == "busy"
    query = select(ScanRun).order_by(ScanRun.id.desc())
    if busy_only:
        query = query.where(or_(ScanRun.fetched > 0, ScanRun.status != "OK"))
    page = db.paginate(
        query,
        per_page=PER_PAGE,
        max_per_page=PER_PAGE,
        error_out=False,
    )
    running = _in_progress_ids()
    latest = db.session.scalar(select(ScanRun.id).order_by(ScanRun.id.desc()).limit(1)) or 0
    return render_template(
        "admin/runs.html",
        page=page,
        running=running,
        latest_id=latest,
        post_form=PostForm(),
        busy_only=busy_only,
    )


@bp.route("/runs/status.json")
def runs_status():
    """Polled by the history page: in-progress runs with their counters, and the newest run id."""
    rows = db.session.scalars(
        select(ScanRun).where(ScanRun.status == "In progress").order_by(ScanRun.id)
    ).all()
    watched: list[int] = []
    for part in request.args.get("ids", "").split(","):
        if part.isdigit() and len(watched) < 100:
            watched.append(int(part))
    extra = [i for i in watched if i not in {r.id for r in rows}]
    if extra:
        rows += db.session.scalars(select(ScanRun).where(ScanRun.id.in_(extra))).all()
    latest = db.session.scalar(select(ScanRun.id).order_by(ScanRun.id.desc()).limit(1)) or 0
    return jsonify(
        running=[r.id for r in rows if r.status == "In progress"],
        latest_id=latest,
        runs={str(r.id): run_as_json(r) for r in rows},
    )


def _checked_post_form() -> PostForm:
    """The posted PostForm; 400 when its CSRF token does not validate."""
    form = PostForm()
    if not form.validate_on_submit():
        abort(400)
    return form


@bp.route("/runs/start", methods=["POST"])
def run_start():
    _checked_post_form()
    from corpmail.scanner.runner import start_scan_in_background

    # The scan runs in a background thread: the request only starts it.
    started = start_scan_in_background(
        current_app._get_current_object(), trigger="admin", user_id=current_user.id
    )
    if not started:
        flash(_("A scan is already running; wait for it to end or stop it."), "warning")
        return redirect(url_for("admin.runs"))
    flash(_("Scanning started. Progress is shown below."), "info")
    return redirect(url_for("admin.runs", started=1))


@bp.route("/runs/<int:run_id>/stop", methods=["POST"])
def run_stop(run_id: int):
    run = db.get_or_404(ScanRun, run_id)
    form = _checked_post_form()
    if run.status != "In progress":
        flash(_("Run %(id)d is not running.", id=run.id), "warning")
    else:
        from corpmail.scanner.runner import request_stop

        request_stop(run.id, current_user.id)
        flash(
            _("Stop requested for run %(id)d: it stops after the current message.", id=run.id),
            "info",
        )
    if form.next.data == "detail":
        return redirect(url_for("admin.run_detail", run_id=run.id))
    return redirect(url_for("admin.runs"))


@bp.route("/runs/<int:run_id>")
def run_detail(run_id: int):
    run = db.get_or_404(ScanRun, run_id)
    events = db.paginate(
        select(ScanEvent).where(ScanEvent.run_id == run.id).order_by(ScanEvent.id),
        per_page=100,
        max_per_page=100,
        error_out=False,
    )
    failures = []
    if run.account_id is not None:
        failures = db.session.scalars(
            select(MessageFailure)
            .where(
                MessageFailure.account_id == run.account_id, MessageFailure.resolved_at.is_(None)
            )
            .order_by(MessageFailure.quarantined.desc(), MessageFailure.id)
        ).all()
    return render_template(
        "admin/run_detail.html",
        run=run,
        events=events,
        failures=failures,
        post_form=PostForm(),
        counters=COUNTERS,
    )


@bp.route("/failures/<int:failure_id>/retry", methods=["POST"])
def failure_retry(failure_id: int):
    failure = db.get_or_404(MessageFailure, failure_id)
    form = _checked_post_form()
    from corpmail.scanner.runner import retry_quarantined

    try:
        outcome = retry_quarantined(failure.id, current_user.id)
    except Exception as exc:  # show the reason on the page; the failure row stays for later
        log.exception("retry of message failure %s failed", failure_id)
        db.session.rollback()
        flash(_("Retry failed: %(error)s", error=str(exc)), "danger")
    else:
        db.session.expire_all()
        failure = db.session.get(MessageFailure, failure_id)
        text, category = RETRY_OUTCOMES.get(outcome, (None, "warning"))
        message = str(text) if text else outcome
        if failure is not None and outcome == "failed":
            message += " " + failure.last_error
        flash(_("Retry of the message: %(outcome)s", outcome=message), category)
    target = form.next.data if (form.next.data or "").isdigit() else None
    if target:
        return redirect(url_for("admin.run_detail", run_id=int(target)))
    return redirect(url_for("admin.runs"))
