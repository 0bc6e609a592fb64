using System.Data.Common;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Desk;

/// <summary>
/// Routing and assignment. A service conversation starts waiting at the customer's first message (or when reopened),
/// in the queue the customer chose, else the first queue whose keywords its text contains, else the store's default,
/// else no queue (every agent of the store).
/// Waiting conversations are assigned first come, first served — higher VIP level first — to an agent of the queue
/// who is online and under capacity, by the queue's strategy (least busy, or round robin). Every assignment of a store
/// runs under the store's lock (PostgreSQL advisory lock; SQLite's write lock), so capacity holds across nodes.
/// </summary>
public sealed class Router(Db db, Integrations.Outbox outbox, IEventBus bus, AutoReplies replies, TimeProvider clock)
{
    private static readonly TimeSpan DefaultHandling = TimeSpan.FromMinutes(5);

    private sealed class DeskRow
    {
        public string Id { get; set; } = "";
        public string StoreId { get; set; } = "";
        public string? QueueId { get; set; }
        public string? AssigneeId { get; set; }
        public long? WaitingSince { get; set; }
        public long Priority { get; set; }
        public string State { get; set; } = "";
        public string? TransferredFrom { get; set; }
    }

    public sealed record Candidate(string StaffId, string Name, long Capacity, long OpenCount, long? LastAssigned);

    private sealed class CandidateRow
    {
        public string StaffId { get; set; } = "";
        public string Name { get; set; } = "";
        public long Capacity { get; set; }
        public long OpenCount { get; set; }
        public long? LastAssigned { get; set; }
    }

    /// <summary>After a customer's message: a conversation nobody serves yet starts waiting and is offered to an agent.</summary>
    public async Task OnCustomerMessageAsync(ConversationFacts facts, string? text, bool reopened, CancellationToken ct)
    {
        var row = await db.QuerySingleOrDefaultAsync<DeskRow>(
            "SELECT id, store_id, queue_id, assignee_id, waiting_since, priority, state FROM conversations WHERE id = @id", new { id = facts.Id }, ct);
        if (row is null || (!reopened && (row.AssigneeId is not null || row.WaitingSince is not null)))
            return;
        var queueId = row.QueueId ?? await ChooseQueueAsync(row.StoreId, text, ct);
        var vip = await db.QuerySingleOrDefaultAsync<long>("SELECT vip_level FROM customers WHERE id = @id", new { id = facts.CustomerId }, ct);
        var now = Now;
        await db.ExecuteAsync("""
            UPDATE conversations SET queue_id = @queueId, priority = @vip, waiting_since = @now, assignee_id = NULL, assigned_at = NULL
            WHERE id = @id
            """, new { queueId, vip, now, id = row.Id }, ct);

        // The reopening message reached only whoever served it before; now that it waits again the store hears of it.
        if (reopened)
            await PublishConversationAsync(row.Id, facts, ct, assignment: true);
        var store = (await db.QuerySingleOrDefaultAsync<StoreRow>(StoreRow.SelectById, new { id = row.StoreId }, ct))!;
        var hours = BusinessClock.Of(store);
        if (hours.HasHours && !hours.IsOpen(clock.GetUtcNow()))
            await replies.ClosedAsync(facts, store, hours.NextOpening(clock.GetUtcNow()), ct);
        await DrainAsync(row.StoreId, ct);
    }

    /// <summary>
    /// A staff member answering a conversation nobody serves takes it. Answers who serves it now: the caller, or the
    /// colleague (or router) that took it first when two took it at once.
    /// </summary>
    public async Task<string?> ClaimAsync(ConversationFacts facts, string staffId, CancellationToken ct)
    {
        var now = Now;
        var (changed, assignee) = await db.InTransactionAsync(async (c, t) =>
        {
            var changed = await c.ExecuteAsync("""
                UPDATE conversations SET assignee_id = @staffId, assigned_at = @now, waiting_since = NULL, transferred_from = NULL
                WHERE id = @id AND assignee_id IS NULL AND state <> 'resolved'
                """, new { staffId, now, id = facts.Id }, t);
            if (changed == 0)
                return (false, await c.QuerySingleOrDefaultAsync<string?>("SELECT assignee_id FROM conversations WHERE id = @id", new { id = facts.Id }, t));
            await outbox.ConversationAsync(c, t, WebhookEventTypes.ConversationAssigned, facts.OrgId, facts.Id, now);
            return (true, staffId);
        }, ct);
        if (changed)
            await PublishConversationAsync(facts.Id, facts, ct, assignment: true);
        return assignee;
    }

    /// <summary>The queue by the first message's words, else the store's default queue, else none (every agent of the store).</summary>
    public async Task<string?> ChooseQueueAsync(string storeId, string? text, CancellationToken ct)
    {
        var queues = await db.QueryAsync<QueueRow>($"SELECT {QueueRow.Columns} FROM queues WHERE store_id = @storeId ORDER BY position, name, id", new { storeId }, ct);
        if (!string.IsNullOrWhiteSpace(text))
            foreach (var queue in queues)
                if (queue.KeywordList.Any(k => text.Contains(k, StringComparison.OrdinalIgnoreCase)))
                    return queue.Id;
        return queues.FirstOrDefault(q => q.IsDefault != 0)?.Id;
    }

    /// <summary>Assigns waiting conversations of the store while there are agents free for them, then tells the rest where they stand.</summary>
    public async Task DrainAsync(string storeId, CancellationToken ct)
    {
        var store = await db.QuerySingleOrDefaultAsync<StoreRow>(StoreRow.SelectById, new { id = storeId }, ct);
        if (store is null)
            return;
        var hours = BusinessClock.Of(store);
        var assigned = new List<(string ConversationId, Candidate Agent)>();
        if (!hours.HasHours || hours.IsOpen(clock.GetUtcNow()))
            assigned = await db.InTransactionAsync(async (c, t) => await AssignWaitingAsync(c, t, store), ct);
        foreach (var (conversationId, agent) in assigned)
        {
            var facts = await FactsAsync(conversationId, ct);
            await PublishConversationAsync(conversationId, facts, ct, assignment: true);
            await replies.ServedByAsync(facts, agent.Name, ct);
        }
        await PushPositionsAsync(store, hours, ct);
    }

    private async Task<List<(string, Candidate)>> AssignWaitingAsync(DbConnection c, DbTransaction t, StoreRow store)
    {
        if (db.Dialect.IsPostgres)
            await c.ExecuteAsync("SELECT pg_advisory_xact_lock(hashtext(@id))", new { id = store.Id }, t);
        var waiting = (await c.QueryAsync<DeskRow>("""
            SELECT id, store_id, queue_id, assignee_id, waiting_since, priority, state, transferred_from FROM conversations
            WHERE store_id = @storeId AND kind = 'service' AND state <> 'resolved' AND assignee_id IS NULL AND waiting_since IS NOT NULL
            ORDER BY priority DESC, waiting_since, id
            """, new { storeId = store.Id }, t)).AsList();
        var result = new List<(string, Candidate)>();
        if (waiting.Count == 0)
            return result;
        var queues = (await c.QueryAsync<QueueRow>($"SELECT {QueueRow.Columns} FROM queues WHERE store_id = @storeId", new { storeId = store.Id }, t))
            .ToDictionary(q => q.Id);
        var candidates = new Dictionary<string, List<Candidate>>();
        var now = Now;
        foreach (var conversation in waiting)
        {
            var queueKey = conversation.QueueId is not null && queues.ContainsKey(conversation.QueueId) ? conversation.QueueId : "";
            if (!candidates.TryGetValue(queueKey, out var pool))
                candidates[queueKey] = pool = (await CandidatesAsync(c, t, store, queueKey == "" ? null : queueKey)).ToList();
            var queue = queueKey == "" ? null : queues[queueKey];
            // Transferred to the queue by an agent: someone else takes it, unless nobody else of the queue is online.
            var free = pool.Where(a => a.OpenCount < a.Capacity && (a.StaffId != conversation.TransferredFrom || pool.Count == 1)).ToList();
            if (free.Count == 0)
                continue;
            var agent = queue?.Strategy == "round_robin"
                ? free.FirstOrDefault(a => string.CompareOrdinal(a.StaffId, queue.RrCursor) > 0) ?? free[0]
                : free.OrderBy(a => a.OpenCount).ThenBy(a => a.LastAssigned ?? 0).ThenBy(a => a.StaffId, StringComparer.Ordinal).First();
            var changed = await c.ExecuteAsync("""
                UPDATE conversations SET assignee_id = @staffId, assigned_at = @now, waiting_since = NULL, transferred_from = NULL
                WHERE id = @id AND assignee_id IS NULL
                """, new { staffId = agent.StaffId, now, id = conversation.Id }, t);
            if (changed == 0)
                continue;
            await outbox.ConversationAsync(c, t, WebhookEventTypes.ConversationAssigned, store.OrgId, conversation.Id, now);
            if (queue is not null && queue.Strategy == "round_robin")
            {
                queue.RrCursor = agent.StaffId;
                await c.ExecuteAsync("UPDATE queues SET rr_cursor = @RrCursor WHERE id = @Id", queue, t);
            }
            // The same agent may serve several queues: their load counts everywhere.
            foreach (var list in candidates.Values)
                for (var i = 0; i < list.Count; i++)
                    if (list[i].StaffId == agent.StaffId)
                        list[i] = list[i] with { OpenCount = list[i].OpenCount + 1, LastAssigned = now };
            result.Add((conversation.Id, agent));
        }
        return result;
    }

    /// <summary>Agents and managers of the store (of the queue, when it names its agents) who are online, with their load.</summary>
    public async Task<IReadOnlyList<Candidate>> CandidatesAsync(DbConnection c, DbTransaction? t, StoreRow store, string? queueId) =>
        (await c.QueryAsync<CandidateRow>($"""
            SELECT s.id AS staff_id, s.name, s.capacity,
                (SELECT COUNT(*) FROM conversations o WHERE o.assignee_id = s.id AND o.kind = 'service' AND o.state <> 'resolved') AS open_count,
                (SELECT MAX(o.assigned_at) FROM conversations o WHERE o.assignee_id = s.id) AS last_assigned
            FROM staff s
            WHERE s.org_id = @orgId AND s.disabled_at IS NULL AND s.presence_status = 'online'
              AND EXISTS (SELECT 1 FROM staff_roles r WHERE r.staff_id = s.id AND r.store_id = @storeId AND r.role IN ('agent', 'manager'))
              AND EXISTS (SELECT 1 FROM staff_presence p WHERE p.staff_id = s.id AND p.connections > 0 AND p.seen_at > @fresh)
              AND (@queueId IS NULL OR NOT EXISTS (SELECT 1 FROM queue_agents qa WHERE qa.queue_id = @queueId)
                   OR EXISTS (SELECT 1 FROM queue_agents qa WHERE qa.queue_id = @queueId AND qa.staff_id = s.id))
            ORDER BY s.id
            """, new { orgId = store.OrgId, storeId = store.Id, queueId, fresh = Now - (long)Presence.Stale.TotalMilliseconds }, t))
        .Select(r => new Candidate(r.StaffId, r.Name, r.Capacity, r.OpenCount, r.LastAssigned)).ToList();

    /// <summary>Tells every waiting customer of the store their place in their queue and an estimated wait.</summary>
    private async Task PushPositionsAsync(StoreRow store, BusinessClock hours, CancellationToken ct)
    {
        var waiting = await db.QueryAsync<(string Id, string? QueueId, string CustomerId)>("""
            SELECT id, queue_id, customer_id FROM conversations
            WHERE store_id = @storeId AND kind = 'service' AND state <> 'resolved' AND assignee_id IS NULL AND waiting_since IS NOT NULL
            ORDER BY priority DESC, waiting_since, id
            """, new { storeId = store.Id }, ct);
        if (waiting.Count == 0)
            return;
        var handling = await AverageHandlingAsync(store.Id, ct);
        var now = clock.GetUtcNow();
        var opensAt = OpensAt(hours, now);
        await using var connection = await db.OpenAsync(ct);
        foreach (var group in waiting.GroupBy(w => w.QueueId))
        {
            var agents = (await CandidatesAsync(connection, null, store, group.Key)).Count;
            var position = 0L;
            foreach (var (id, queueId, customerId) in group)
            {
                position++;
                var frame = Frames.Serialize(new
                {
                    type = "queue_position", conversation_id = id, queue_id = queueId, position,
                    estimated_wait_seconds = Estimate(position, agents, handling, opensAt, now), opens_at = opensAt,
                });
                await bus.PublishAsync(new RealtimeEvent(RealtimeEventKind.Push, Audience.Users(customerId), frame), ct);
            }
        }
    }

    /// <summary>Where a waiting conversation stands (null when it is not waiting).</summary>
    public async Task<QueuePositionDto?> PositionAsync(ConversationFacts facts, CancellationToken ct)
    {
        var row = await db.QuerySingleOrDefaultAsync<DeskRow>(
            "SELECT id, store_id, queue_id, assignee_id, waiting_since, priority, state FROM conversations WHERE id = @id", new { id = facts.Id }, ct);
        if (row is null || row.AssigneeId is not null || row.WaitingSince is null || row.State == "resolved")
            return null;
        var ahead = await db.QuerySingleOrDefaultAsync<long>("""
            SELECT COUNT(*) FROM conversations
            WHERE store_id = @StoreId AND kind = 'service' AND state <> 'resolved' AND assignee_id IS NULL AND waiting_since IS NOT NULL
              AND ((queue_id IS NULL AND @QueueId IS NULL) OR queue_id = @QueueId)
              AND (priority > @Priority OR (priority = @Priority AND (waiting_since < @WaitingSince OR (waiting_since = @WaitingSince AND id < @Id))))
            """, row, ct);
        var store = (await db.QuerySingleOrDefaultAsync<StoreRow>(StoreRow.SelectById, new { id = row.StoreId }, ct))!;
        await using var connection = await db.OpenAsync(ct);
        var agents = (await CandidatesAsync(connection, null, store, row.QueueId)).Count;
        var handling = await AverageHandlingAsync(store.Id, ct);
        var position = ahead + 1;
        var now = clock.GetUtcNow();
        var opensAt = OpensAt(BusinessClock.Of(store), now);
        return new QueuePositionDto(facts.Id, row.QueueId, position, Estimate(position, agents, handling, opensAt, now), opensAt);
    }

    /// <summary>When a closed store opens next; null while it is open (or has no hours).</summary>
    private static DateTimeOffset? OpensAt(BusinessClock hours, DateTimeOffset now) =>
        hours.HasHours && hours.NextOpening(now) is { } next && next > now ? next : null;

    /// <summary>
    /// The wait of the customer at <paramref name="position"/>: one handling time per round of the online agents.
    /// While the store is closed nobody answers before it opens, so the estimate starts there (with at least one
    /// agent). Unknown while it is open and nobody who serves the queue is online.
    /// </summary>
    private static long? Estimate(long position, int agents, TimeSpan handling, DateTimeOffset? opensAt, DateTimeOffset now)
    {
        if (agents == 0 && opensAt is null)
            return null;
        var rounds = (long)Math.Ceiling(position / (double)Math.Max(agents, 1));
        return (opensAt is { } opening ? (long)(opening - now).TotalSeconds : 0) + rounds * (long)handling.TotalSeconds;
    }

    /// <summary>The mean time from assignment to resolution of the store's last 50 resolved conversations.</summary>
    private async Task<TimeSpan> AverageHandlingAsync(string storeId, CancellationToken ct)
    {
        var spans = await db.QueryAsync<long>("""
            SELECT resolved_at - assigned_at FROM conversations
            WHERE store_id = @storeId AND kind = 'service' AND resolved_at IS NOT NULL AND assigned_at IS NOT NULL AND resolved_at > assigned_at
            ORDER BY resolved_at DESC LIMIT 50
            """, new { storeId }, ct);
        return spans.Count == 0 ? DefaultHandling : TimeSpan.FromMilliseconds(spans.Average());
    }

    /// <summary>
    /// Pushes the conversation as it is now to its audience (once assigned: the assignee, watchers and managers). A
    /// change of who serves it (<paramref name="assignment"/>) goes to every staff member of the store, whose inbox
    /// moves it out of (or back into) "unassigned" and whose counts change.
    /// </summary>
    public async Task PublishConversationAsync(string conversationId, ConversationFacts facts, CancellationToken ct, bool assignment = false)
    {
        var row = await db.QuerySingleOrDefaultAsync<ConversationRow>($"SELECT {ConversationRow.Columns} FROM conversations WHERE id = @conversationId", new { conversationId }, ct);
        if (row is null)
            return;
        var audience = facts.Audience(null, row.AssigneeId, row.Watchers);
        await bus.PublishAsync(Frames.ConversationEvent(row.ToPushDto(), assignment ? audience with { StoreId = facts.StoreId } : audience), ct);
    }

    private async Task<ConversationFacts> FactsAsync(string conversationId, CancellationToken ct)
    {
        var row = await db.QuerySingleOrDefaultAsync<ConversationRow>($"SELECT {ConversationRow.Columns} FROM conversations WHERE id = @conversationId", new { conversationId }, ct);
        return row!.Facts;
    }

    private long Now => clock.GetUtcNow().ToUnixTimeMilliseconds();
}

/// <summary>Where a waiting conversation stands: <c>GET /v1/conversations/{id}/queue</c> and the <c>queue_position</c> frame.</summary>
public sealed record QueuePositionDto(string ConversationId, string? QueueId, long Position, long? EstimatedWaitSeconds, DateTimeOffset? OpensAt);
