"""What one service process holds while it runs: settings, keys, the pool, caches, background jobs.

Created in the Litestar lifespan (`consent.api.app`) and reachable from
handlers as `app.state.runtime`; the CLI builds one for commands that need the
whole service.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from consent.api.observability import run_metrics_flusher, watch_state_cache
from consent.config import ConfigError, Settings
from consent.errors import Conflict, InvalidInput
from consent.ids import uuid7
from consent.jobs.audit_sealer import run_audit_sealer
from consent.jobs.delivery import DeliveryLoop
from consent.jobs.housekeeping import HOUSEKEEPING, housekeeping_handler, schedule_housekeeping
from consent.jobs.idempotency_expiry import run_idempotency_expiry
from consent.jobs.runner import JobRunner
from consent.key_material import KeyMaterial, load_key_material
from consent.service.api_keys.resolver import KeyResolver
from consent.service.audit_sealing import Sealer
from consent.service.checking.cold_reads import ColdReads
from consent.service.checking.state_cache import StateCache
from consent.service.delivery import Deliveries, RecipientSecrets, check_recipient_secrets
from consent.service.exports import ExportService
from consent.service.feed import ChangeFeed
from consent.service.foreground import FOREGROUND
from consent.service.policy_versions import ActivePolicy, PolicyHolder, ensure_policy
from consent.service.proof_rekeying import REKEY_PROOFS, rekey_user_agents, schedule_rekeying
from consent.service.rate_limits import RateLimits
from consent.service.recording.consents import ConsentService
from consent.service.recording.writer import ConsentWriter
from consent.service.replica import Reads, Replica
from consent.service.requests.erasure import erasure_executor
from consent.service.requests.execution import EXECUTE, RequestExecution
from consent.service.requests.handling import RequestHandling
from consent.service.requests.orders import order_changed
from consent.service.requests.receipt_batches import ReceiptBatches
from consent.service.requests.rectification import rectification_executor
from consent.service.subjects.identifiers import Subjects
from consent.service.vault.data_keys import DataKeys
from consent.service.vault.master_key_rotation import refuse_retired_current
from consent.store.migrate import MigrationError, pending_migrations
from consent.store.notifications import Notifications
from consent.store.pool import Pool, create_pool
from policies import RequestType, TCStringInvalid, decode_tc_string

__all__ = ["Runtime", "running"]

log = logging.getLogger(__name__)


class Runtime:
    def __init__(
        self, settings: Settings, database_url: str, pool: Pool, keys: KeyMaterial, policy: ActivePolicy
    ) -> None:
        self.settings = settings
        self.database_url = database_url
        self.pool = pool
        self.keys = keys
        # LISTEN needs a session of its own: behind PgBouncer, a direct connection to the server.
        self.notifications = Notifications(settings.database_session_url or database_url)
        self.api_keys = KeyResolver(pool, self.notifications)
        self.limits = RateLimits(settings)
        self.policy = PolicyHolder(pool, self.notifications, policy)
        self.data_keys = DataKeys(keys, self.notifications, max_entries=settings.cache_size)
        self.subjects = Subjects(
            self.data_keys,
            keys.index_key,
            self.notifications,
            phone_region=settings.phone_region,
            max_entries=settings.cache_size,
        )
        self.states = StateCache(self.notifications, max_entries=settings.state_cache_entries)
        self.replica = self._replica(settings, database_url)
        # What may read the replica reads through `reads`; writes, leases and the reads they depend on
        # use `pool`. The writer's lookups (what it is about to write depends on them) keep cold reads
        # of their own on the primary when the check path's go to a replica.
        self.reads = Reads(pool, self.replica)
        self._receipts = ReceiptBatches(database_url, pooled=settings.pooled)
        self.cold_reads = ColdReads(database_url, pooled=settings.pooled, replica=self.replica)
        writer_reads = self.cold_reads if self.replica is None else ColdReads(database_url, pooled=settings.pooled)
        self.writer = ConsentWriter(
            pool,
            self.subjects,
            self.states,
            writer_reads,
            database_url=database_url,
            batch_size=settings.write_batch_size,
            wait_seconds=settings.write_batch_wait_us / 1_000_000,
            slots=settings.write_concurrency,
            pooled=settings.pooled,
        )
        self.feed = ChangeFeed(self.reads, self.notifications)
        self.consents = ConsentService(
            pool,
            reads=self.reads,
            cold_reads=self.cold_reads,
            subjects=self.subjects,
            data_keys=self.data_keys,
            states=self.states,
            writer=self.writer,
            signing_keys=keys.signing_keys,
        )
        # Names this process's leases in `jobs` and `outbox`: unique, and telling an operator where it ran.
        worker = f"{socket.gethostname()}:{os.getpid()}:{uuid7().hex[-8:]}"
        poll = settings.job_poll_interval_ms / 1000
        base, cap = settings.retry_backoff_base_ms / 1000, float(settings.retry_backoff_cap_seconds)
        self.deliveries = Deliveries(
            pool,
            lambda: self.policy.current.policy,
            RecipientSecrets(os.environ),
            worker=worker,
            batch=settings.delivery_concurrency,
            timeout=settings.delivery_timeout_ms / 1000,
            max_attempts=settings.delivery_max_attempts,
            backoff_base=base,
            backoff_cap=cap,
            on_change=order_changed,
        )
        self._delivery_loop = DeliveryLoop(self.deliveries, self.notifications, poll_interval=poll)
        self.jobs = JobRunner(
            pool,
            self.notifications,
            worker=worker,
            concurrency=settings.job_concurrency,
            poll_interval=poll,
            lease_seconds=settings.job_lease_seconds,
            backoff_base=base,
            backoff_cap=cap,
            busy=FOREGROUND.busy,
        )
        self._housekeeping_every = timedelta(minutes=settings.housekeeping_interval_minutes)
        self.jobs.handle(
            HOUSEKEEPING,
            housekeeping_handler(
                pool,
                lambda: self.policy.current,
                interval=self._housekeeping_every,
                retention=timedelta(days=settings.outbox_retention_days),
                max_attempts=settings.job_max_attempts,
            ),
        )
        # Each request type run by a job has its executor here.
        self.execution = RequestExecution(
            pool,
            states=self.states,
            subjects=self.subjects,
            max_attempts=settings.job_max_attempts,
            wake=self.jobs.wake,
        )
        self.exports = ExportService(
            pool,
            reads=self.reads,
            data_keys=self.data_keys,
            policy=self.policy,
            signing_keys=keys.signing_keys,
            lifetime=timedelta(hours=settings.export_lifetime_hours),
        )
        self.execution.register(RequestType.ACCESS, self.exports.execute)
        self.execution.register(RequestType.PORTABILITY, self.exports.execute)
        self.execution.register(RequestType.ERASURE, erasure_executor(self.subjects, self.policy))
        self.execution.register(RequestType.RECTIFICATION, rectification_executor(self.subjects, self.policy))
        self.jobs.handle(EXECUTE, self.execution.run)
        self.jobs.handle(REKEY_PROOFS, lambda _job: self._rekey_proofs())
        self.requests = RequestHandling(
            pool,
            subjects=self.subjects,
            policy=self.policy,
            consents=self.consents,
            states=self.states,
            execution=self.execution,
            receipts=self._receipts,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._writer_reads = writer_reads

    def _replica(self, settings: Settings, database_url: str) -> Replica | None:
        if settings.database_replica_url is None:
            return None
        return Replica(
            settings.database_replica_url,
            primary_url=database_url,
            pooled=settings.pooled,
            pool_size=settings.pool_max_size,
            notifications=self.notifications,
            states=self.states,
            subjects=self.subjects,
            max_lag=settings.replica_max_lag_ms / 1000,
            wait=settings.replica_wait_ms / 1000,
        )

    async def _rekey_proofs(self) -> None:
        converted = await rekey_user_agents(self.pool, self.keys.index_key)
        if converted:
            log.info("proofs: %d user-agent digests keyed", converted)

    def decode_tcf(self, text: str) -> dict[str, Any]:
        """The TC string's summary to keep as proof; InvalidInput (field `tcf`) if it is malformed."""
        try:
            return decode_tc_string(text).to_summary()
        except TCStringInvalid as exc:
            raise InvalidInput(f"not a valid TCF v2 TC string: {exc}", field="tcf") from None

    async def start(self, *, background: bool = True) -> None:
        """Start what serving needs; with `background`, the work a service instance does besides
        (jobs, deliveries, the audit sealer, expiries): a CLI command leaves that to the instances."""
        await self.notifications.start()
        if self.replica is not None:
            await self.replica.start()
        self.writer.start()
        if background:
            await self._start_background()

    async def _start_background(self) -> None:
        watch_state_cache(self.states)
        self._tasks.append(asyncio.create_task(run_metrics_flusher(), name="metrics-flusher"))
        ttl = timedelta(hours=self.settings.idempotency_ttl_hours)
        self._tasks.append(asyncio.create_task(run_idempotency_expiry(self.pool, ttl=ttl), name="idempotency-expiry"))
        self._tasks.append(
            asyncio.create_task(
                run_audit_sealer(
                    self.pool, Sealer(self.keys.audit_keys), interval=self.settings.audit_seal_interval_ms / 1000
                ),
                name="audit-sealer",
            )
        )
        await schedule_housekeeping(
            self.pool,
            at=datetime.now(UTC),
            interval=self._housekeeping_every,
            max_attempts=self.settings.job_max_attempts,
        )
        await schedule_rekeying(self.pool, at=datetime.now(UTC), max_attempts=self.settings.job_max_attempts)
        self.jobs.start()
        self._tasks.append(asyncio.create_task(self._delivery_loop.run(), name="deliveries"))

    async def stop(self) -> None:
        await self.jobs.stop(grace=min(5.0, self.settings.job_lease_seconds / 2))
        await self.writer.stop()
        await self._receipts.close()
        await self.cold_reads.close()
        if self._writer_reads is not self.cold_reads:
            await self._writer_reads.close()
        if self.replica is not None:
            await self.replica.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.deliveries.close()
        await self.notifications.stop()
        await self.policy.stop()
        await self.pool.close()

    async def migrations_current(self) -> bool:
        """True when every shipped migration is applied and none has changed."""
        async with self.pool.acquire() as conn:
            try:
                return not await pending_migrations(conn)
            except MigrationError:
                return False


@contextlib.asynccontextmanager
async def running(settings: Settings, database_url: str, *, background: bool = True) -> AsyncIterator[Runtime]:
    """A started runtime for the duration of the block; `background`: see `Runtime.start`."""
    keys = load_key_material(settings)
    pool = await create_pool(
        database_url, min_size=settings.pool_min_size, max_size=settings.pool_max_size, pooled=settings.pooled
    )
    try:
        async with pool.acquire() as conn:
            policy = await ensure_policy(conn, policy_file=settings.policy_file)
            try:
                await refuse_retired_current(conn, keys.provider)
            except Conflict as exc:
                raise ConfigError(f"CONSENT_MASTER_KEY_CURRENT: {exc.detail}") from None
        check_recipient_secrets(policy.policy, RecipientSecrets(os.environ), settings.env)
        runtime = Runtime(settings, database_url, pool, keys, policy)
        await runtime.start(background=background)
        # Everything built at start-up lives as long as the process: keep the collector from
        # scanning it again and again (fewer, shorter pauses on the hot path).
        gc.freeze()
    except BaseException:
        await pool.close()
        raise
    try:
        yield runtime
    finally:
        await runtime.stop()
