using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Desk;

/// <summary><c>POST /v1/desk/conversations/{id}/transfer</c>: to an agent who is online, or to a queue; the note goes to the notes thread.</summary>
public sealed record TransferRequest(string? AgentId, string? QueueId, string? Note);

/// <summary><c>POST /v1/desk/conversations/{id}/assign</c> (managers): any agent of the store, online or not; null to unassign.</summary>
public sealed record AssignRequest(string? AgentId);

public sealed record LabelsRequest(List<string>? Labels);

public sealed record CapacityRequest(int? Capacity);

/// <summary>The SLA clocks of a conversation, in the store's business time.</summary>
public sealed record SlaDto(DateTimeOffset? FirstResponseDueAt, bool FirstResponseBreached, long FirstResponseBusinessSeconds, DateTimeOffset? ResolutionDueAt, bool ResolutionBreached)
{
    /// <summary>When staff first answered; null while the first-response clock still runs.</summary>
    public DateTimeOffset? FirstResponseAt { get; init; }

    /// <summary>Business seconds from the customer's first message to now (or to the resolution).</summary>
    public long ResolutionBusinessSeconds { get; init; }
}

/// <summary>One line of the inbox.</summary>
public sealed record InboxItemDto(ConversationDto Conversation, string CustomerName, int VipLevel, MessageDto? LastMessage, SlaDto? Sla);

public sealed record InboxCountsDto(long Mine, long Unassigned, long Waiting, long Open, IReadOnlyDictionary<string, long> Queues);

/// <summary>What agents and managers do to service conversations: transfer, assign, pending, labels, watch; the inbox.</summary>
public sealed class DeskActions(
    Db db, Access access, Integrations.Outbox outbox, Router router, AutoReplies replies, DeskSignals signals, MessageActions messages, ConversationActions conversations, Presence presence, TimeProvider clock)
{
    public async Task<ConversationDto> TransferAsync(CurrentUser user, string conversationId, TransferRequest body, CancellationToken ct)
    {
        var conversation = await ServiceAsync(user, conversationId, ct);
        var storeId = conversation.Facts.StoreId!;
        if (conversation.AssigneeId != user.Id && !user.HasStoreRole(storeId, Roles.Manager))
            throw ApiException.Forbidden("Only the agent serving the conversation or a manager transfers it.");
        if (body.AgentId is null == (body.QueueId is null))
            throw ApiException.Invalid("Give agent_id or queue_id.");
        var note = body.Note?.Trim();
        if (note is { Length: > 1000 })
            throw new ApiException(ErrorCodes.TooLarge, "A transfer note is at most 1000 characters.");
        string transfer;
        string? servedBy = null;
        if (body.AgentId is not null)
        {
            var agent = await AgentOfStoreAsync(user, storeId, body.AgentId, ct);
            if (await presence.StatusAsync(agent.Id, ct) != "online")
                throw ApiException.Conflict(Texts.Get(user.Language, "agent_offline", ("name", agent.Name)));
            await AssignToAsync(conversation.Facts, conversationId, agent.Id, ct);
            transfer = Texts.Get(user.Language, "transfer_to_agent", ("target", agent.Name));
            servedBy = agent.Id == conversation.AssigneeId ? null : agent.Name;
        }
        else
        {
            var queue = await db.QuerySingleOrDefaultAsync<QueueRow>($"SELECT {QueueRow.Columns} FROM queues WHERE id = @id AND store_id = @storeId",
                new { id = body.QueueId, storeId }, ct) ?? throw ApiException.NotFound("The queue");
            await db.ExecuteAsync("""
                UPDATE conversations SET queue_id = @queueId, assignee_id = NULL, assigned_at = NULL, waiting_since = @now, transferred_from = @from
                WHERE id = @conversationId
                """, new { queueId = queue.Id, now = Now, from = conversation.AssigneeId, conversationId }, ct);
            transfer = Texts.Get(user.Language, "transfer_to_queue", ("target", queue.Name));
        }
        var notesId = await db.QuerySingleOrDefaultAsync<string>("SELECT id FROM conversations WHERE parent_id = @conversationId", new { conversationId }, ct);
        await messages.SendAsync(user, notesId!, new SendMessageRequest(Ids.New("transfer", clock), MessageKinds.Text,
            JsonSerializer.SerializeToElement(new
            {
                text = string.IsNullOrEmpty(note) ? transfer : Texts.Get(user.Language, "transfer_note", ("transfer", transfer), ("note", note)),
            })), null, ct);
        await router.PublishConversationAsync(conversationId, conversation.Facts, ct, assignment: true);
        if (servedBy is not null && conversation.State != "resolved")
            await replies.ServedByAsync(conversation.Facts, servedBy, ct);
        signals.Drain(storeId);
        return await GetAsync(user, conversationId, ct);
    }

    public async Task<ConversationDto> AssignAsync(CurrentUser user, string conversationId, AssignRequest body, CancellationToken ct)
    {
        var conversation = await ServiceAsync(user, conversationId, ct);
        var storeId = conversation.Facts.StoreId!;
        if (!user.HasStoreRole(storeId, Roles.Manager))
            throw ApiException.Forbidden("Only managers assign conversations to others.");
        var agent = body.AgentId is null ? null : await AgentOfStoreAsync(user, storeId, body.AgentId, ct);
        if (agent is null)
            await db.ExecuteAsync("UPDATE conversations SET assignee_id = NULL, assigned_at = NULL, waiting_since = @now WHERE id = @conversationId AND state <> 'resolved'",
                new { now = Now, conversationId }, ct);
        else
            await AssignToAsync(conversation.Facts, conversationId, agent.Id, ct);
        await router.PublishConversationAsync(conversationId, conversation.Facts, ct, assignment: true);
        if (agent is not null && agent.Id != conversation.AssigneeId && conversation.State != "resolved")
            await replies.ServedByAsync(conversation.Facts, agent.Name, ct);
        signals.Drain(storeId);
        return await GetAsync(user, conversationId, ct);
    }

    /// <summary>Waiting for the customer: the customer's next message makes it open again.</summary>
    public async Task<ConversationDto> PendingAsync(CurrentUser user, string conversationId, CancellationToken ct)
    {
        var conversation = await ServiceAsync(user, conversationId, ct);
        await db.ExecuteAsync("UPDATE conversations SET state = 'pending', updated_at = @now WHERE id = @conversationId AND state = 'open'",
            new { now = Now, conversationId }, ct);
        await router.PublishConversationAsync(conversationId, conversation.Facts, ct);
        return await GetAsync(user, conversationId, ct);
    }

    public async Task<ConversationDto> SetLabelsAsync(CurrentUser user, string conversationId, LabelsRequest body, CancellationToken ct)
    {
        var conversation = await ServiceAsync(user, conversationId, ct);
        var labels = (body.Labels ?? []).Where(l => !string.IsNullOrWhiteSpace(l)).Select(l => l.Trim()).Distinct().ToList();
        if (labels.Count > 20 || labels.Any(l => l.Length > 30))
            throw ApiException.Invalid("At most 20 labels of at most 30 characters.");
        await db.ExecuteAsync("UPDATE conversations SET labels = @labels WHERE id = @conversationId",
            new { labels = JsonSerializer.Serialize(labels), conversationId }, ct);
        await router.PublishConversationAsync(conversationId, conversation.Facts, ct);
        return await GetAsync(user, conversationId, ct);
    }

    /// <summary>Follow (or stop following) a conversation: watchers get its pushes and may write in it.</summary>
    public async Task<ConversationDto> WatchAsync(CurrentUser user, string conversationId, bool watch, CancellationToken ct)
    {
        var conversation = await ServiceAsync(user, conversationId, ct);
        var watchers = (conversation.WatcherIds ?? []).Where(w => w != user.Id).ToList();
        if (watch)
            watchers.Add(user.Id);
        await db.ExecuteAsync("UPDATE conversations SET watcher_ids = @watchers WHERE id = @conversationId",
            new { watchers = JsonSerializer.Serialize(watchers), conversationId }, ct);
        await router.PublishConversationAsync(conversationId, conversation.Facts, ct);
        return await GetAsync(user, conversationId, ct);
    }

    /// <summary>Store managers set the capacity of staff who work in one of their stores; org admins of anyone.</summary>
    public async Task<StaffDto> SetCapacityAsync(CurrentUser user, string staffId, CapacityRequest body, CancellationToken ct)
    {
        var staff = await access.StaffAsync(user, staffId, ct);
        var stores = await db.QueryAsync<string>("SELECT store_id FROM staff_roles WHERE staff_id = @staffId AND store_id IS NOT NULL", new { staffId }, ct);
        if (!user.IsOrgAdmin && !stores.Any(s => user.HasStoreRole(s, Roles.Manager)))
            throw ApiException.Forbidden("Only a manager of a store this person works in sets their capacity.");
        if (body.Capacity is null or < 0 or > 100)
            throw ApiException.Invalid("capacity is 0 to 100 open conversations.");
        await db.ExecuteAsync("UPDATE staff SET capacity = @capacity WHERE id = @staffId", new { capacity = body.Capacity, staffId }, ct);
        foreach (var store in stores)
            signals.Drain(store);
        var roles = await db.QueryAsync<RoleDto>(StaffRow.SelectRoles, new { staffId }, ct);
        return staff.ToDto(roles) with { Capacity = body.Capacity.Value };
    }

    public async Task<IReadOnlyList<InboxItemDto>> InboxAsync(CurrentUser user, string storeId, string? view, string? queueId, string? state, int? limit, CancellationToken ct)
    {
        var store = await access.StoreAsync(user, storeId, ct);
        Access.RequireStaff(user);
        var where = view switch
        {
            null or "all" => "",
            "mine" => "AND c.assignee_id = @me",
            "unassigned" => "AND c.assignee_id IS NULL",
            "waiting" => "AND c.assignee_id IS NULL AND c.waiting_since IS NOT NULL",
            "queue" => "AND c.queue_id = @queueId",
            _ => throw ApiException.Invalid("view is all, mine, unassigned, waiting or queue."),
        };
        var stateFilter = state switch
        {
            null or "active" => "AND c.state <> 'resolved'",
            "open" or "pending" or "resolved" => "AND c.state = @state",
            _ => throw ApiException.Invalid("state is active, open, pending or resolved."),
        };
        var rows = await db.QueryAsync<InboxRow>($"""
            SELECT c.id, c.org_id, c.kind, c.store_id, c.customer_id, c.parent_id, c.name, c.state, c.last_seq, c.created_by, c.created_at, c.updated_at,
                   c.queue_id, c.assignee_id, c.assigned_at, c.waiting_since, c.priority, c.first_customer_at, c.first_response_at, c.resolved_at,
                   c.labels, c.watcher_ids, COALESCE(m.read_seq, 0) AS read_seq, COALESCE(m.delivered_seq, 0) AS delivered_seq,
                   cu.name AS customer_name, cu.vip_level,
                   lm.id AS last_id, lm.seq AS last_message_seq, lm.sender_id AS last_sender_id, lm.sender_kind AS last_sender_kind,
                   lm.sender_name AS last_sender_name, lm.kind AS last_kind, lm.body AS last_body, lm.created_at AS last_created_at, lm.recalled_at AS last_recalled_at
            FROM conversations c
            JOIN customers cu ON cu.id = c.customer_id
            LEFT JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = @me
            LEFT JOIN messages lm ON lm.conversation_id = c.id AND lm.seq = c.last_seq
            WHERE c.store_id = @storeId AND c.kind = 'service' {where} {stateFilter}
            ORDER BY c.priority DESC, c.updated_at DESC, c.id LIMIT @take
            """, new { me = user.Id, storeId = store.Id, queueId, state, take = Math.Clamp(limit ?? 100, 1, 500) }, ct);
        var hours = BusinessClock.Of(store);
        var now = clock.GetUtcNow();
        return rows.Select(r => new InboxItemDto(r.ToDto(null, null), CustomerNames.Display(r.CustomerId!, r.CustomerName, user.Language), r.VipLevel,
            r.LastId is null ? null : new MessageRow
            {
                Id = r.LastId, ConversationId = r.Id, Seq = r.LastMessageSeq, SenderId = r.LastSenderId!, SenderKind = r.LastSenderKind!,
                SenderName = r.LastSenderName!, Kind = r.LastKind!, Body = r.LastBody, CreatedAt = r.LastCreatedAt, RecalledAt = r.LastRecalledAt,
            }.ToDto(),
            Sla(r, store, hours, now))).ToList();
    }

    public async Task<InboxCountsDto> CountsAsync(CurrentUser user, string storeId, CancellationToken ct)
    {
        var store = await access.StoreAsync(user, storeId, ct);
        Access.RequireStaff(user);
        var rows = await db.QueryAsync<(string? QueueId, string? AssigneeId, long? WaitingSince)>(
            "SELECT queue_id, assignee_id, waiting_since FROM conversations WHERE store_id = @storeId AND kind = 'service' AND state <> 'resolved'",
            new { storeId = store.Id }, ct);
        return new InboxCountsDto(
            rows.LongCount(r => r.AssigneeId == user.Id), rows.LongCount(r => r.AssigneeId is null),
            rows.LongCount(r => r.AssigneeId is null && r.WaitingSince is not null), rows.Count,
            rows.Where(r => r.QueueId is not null).GroupBy(r => r.QueueId!).ToDictionary(g => g.Key, g => g.LongCount()));
    }

    private static SlaDto? Sla(InboxRow row, StoreRow store, BusinessClock hours, DateTimeOffset now)
    {
        if (row.FirstCustomerAt is not { } started)
            return null;
        var start = DateTimeOffset.FromUnixTimeMilliseconds(started);
        var firstDue = hours.HasHours ? hours.Add(start, TimeSpan.FromMinutes(store.SlaFirstResponseMinutes)) : start.AddMinutes(store.SlaFirstResponseMinutes);
        var resolutionDue = hours.HasHours ? hours.Add(start, TimeSpan.FromMinutes(store.SlaResolutionMinutes)) : start.AddMinutes(store.SlaResolutionMinutes);
        var answered = row.FirstResponseAt is { } f ? DateTimeOffset.FromUnixTimeMilliseconds(f) : now;
        var resolved = row.ResolvedAt is { } r && row.State == "resolved" ? DateTimeOffset.FromUnixTimeMilliseconds(r) : now;
        var waited = hours.HasHours ? hours.Elapsed(start, answered) : answered - start;
        return new SlaDto(firstDue, firstDue is not null && answered > firstDue, (long)waited.TotalSeconds, resolutionDue, resolutionDue is not null && resolved > resolutionDue)
        {
            FirstResponseAt = row.FirstResponseAt is { } at ? DateTimeOffset.FromUnixTimeMilliseconds(at) : null,
            ResolutionBusinessSeconds = (long)(hours.HasHours ? hours.Elapsed(start, resolved) : resolved - start).TotalSeconds,
        };
    }

    private async Task<ConversationAccess> ServiceAsync(CurrentUser user, string conversationId, CancellationToken ct)
    {
        var conversation = await access.ConversationAsync(user, conversationId, ct);
        if (!user.IsStaff)
            throw ApiException.Forbidden("Only staff do this.");
        if (conversation.Facts.Kind != ConversationKinds.Service)
            throw ApiException.Invalid("Only service conversations are routed.");
        return conversation;
    }

    private async Task<StaffRow> AgentOfStoreAsync(CurrentUser user, string storeId, string agentId, CancellationToken ct)
    {
        var agent = await access.StaffAsync(user, agentId, ct);
        var works = await db.QuerySingleOrDefaultAsync<long>(
            "SELECT COUNT(*) FROM staff_roles WHERE staff_id = @agentId AND store_id = @storeId AND role IN ('agent', 'manager')", new { agentId, storeId }, ct);
        if (works == 0 || agent.DisabledAt is not null)
            throw ApiException.Invalid($"{agent.Name} does not serve customers of this store.");
        return agent;
    }

    /// <summary>Assigns the conversation to an agent, with its <c>conversation.assigned</c> webhook event in the same transaction.</summary>
    private Task AssignToAsync(ConversationFacts facts, string conversationId, string agentId, CancellationToken ct)
    {
        var now = Now;
        return db.InTransactionAsync(async (c, t) =>
        {
            await c.ExecuteAsync("UPDATE conversations SET assignee_id = @agentId, assigned_at = @now, waiting_since = NULL, transferred_from = NULL WHERE id = @conversationId",
                new { agentId, now, conversationId }, t);
            await outbox.ConversationAsync(c, t, WebhookEventTypes.ConversationAssigned, facts.OrgId, conversationId, now);
        }, ct);
    }

    private Task<ConversationDto> GetAsync(CurrentUser user, string conversationId, CancellationToken ct) =>
        conversations.GetAsync(user, conversationId, ct);

    private long Now => clock.GetUtcNow().ToUnixTimeMilliseconds();

    private sealed class InboxRow : ConversationRow
    {
        public string? CustomerName { get; set; }
        public int VipLevel { get; set; }
        public string? LastId { get; set; }
        public long LastMessageSeq { get; set; }
        public string? LastSenderId { get; set; }
        public string? LastSenderKind { get; set; }
        public string? LastSenderName { get; set; }
        public string? LastKind { get; set; }
        public string? LastBody { get; set; }
        public long LastCreatedAt { get; set; }
        public long? LastRecalledAt { get; set; }
    }
}
