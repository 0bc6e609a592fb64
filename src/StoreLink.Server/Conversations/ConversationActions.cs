using System.Data.Common;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Conversations;

/// <summary>Opening conversations, listing them, and the members of group conversations.</summary>
public sealed class ConversationActions(
    Db db, Access access, ConversationDirectory directory, SystemPosts posts, Integrations.Outbox outbox, IEventBus bus, Desk.DeskSignals signals, Desk.Csat csat, TimeProvider clock)
{
    public const int MaxGroupMembers = 500;

    private const string SelectForUser = $"""
        SELECT c.id, c.org_id, c.kind, c.store_id, c.customer_id, c.parent_id, c.name, c.state, c.last_seq, c.created_by, c.created_at, c.updated_at,
               c.queue_id, c.assignee_id, c.assigned_at, c.waiting_since, c.priority, c.first_customer_at, c.first_response_at, c.resolved_at,
               c.labels, c.watcher_ids, COALESCE(m.read_seq, 0) AS read_seq, COALESCE(m.delivered_seq, 0) AS delivered_seq
        FROM conversations c LEFT JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = @userId
        """;

    /// <summary>A customer's service conversation with a store that is not resolved, created (with its notes thread) when there is none.</summary>
    public async Task<(ConversationDto Conversation, bool Created)> OpenServiceAsync(CurrentUser user, string? storeKey, string? queueId, CancellationToken ct)
    {
        if (!user.IsCustomer)
            throw ApiException.Forbidden("Only customers open service conversations; staff write in them.");
        var store = await access.StoreByKeyAsync(storeKey, ct);
        if (store.OrgId != user.OrgId)
            throw ApiException.NotFound("The store");

        var (id, created) = await posts.EnsureServiceConversationAsync(user.OrgId, store.Id, user.Id, queueId, byCustomer: true, ct);
        var conversation = await GetAsync(user, id, ct);
        if (created)
            await bus.PublishAsync(Frames.ConversationEvent(conversation with { ReadSeq = null, DeliveredSeq = null, Unread = null, NotesId = null },
                new Audience([user.Id], store.Id, store.OrgId)), ct);
        return (conversation, created);
    }

    /// <summary>The one direct conversation of two staff members of an organization.</summary>
    public async Task<(ConversationDto Conversation, bool Created)> OpenDirectAsync(CurrentUser user, string? otherId, CancellationToken ct)
    {
        Access.RequireStaff(user);
        if (string.IsNullOrEmpty(otherId) || otherId == user.Id)
            throw ApiException.Invalid("user_id is another staff member of your organization.");
        var other = await access.StaffAsync(user, otherId, ct);
        var pair = new[] { user.Id, other.Id }.Order(StringComparer.Ordinal).ToArray();
        var key = $"{pair[0]}|{pair[1]}";
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var newId = Ids.New("cnv", clock);
        var created = await db.InTransactionAsync(async (c, t) =>
        {
            var inserted = await c.ExecuteAsync("""
                INSERT INTO conversations (id, org_id, kind, direct_key, state, created_by, created_at, updated_at)
                VALUES (@newId, @orgId, 'direct', @key, 'open', @me, @now, @now) ON CONFLICT (direct_key) DO NOTHING
                """, new { newId, orgId = user.OrgId, key, me = user.Id, now }, t);
            if (inserted == 0)
                return false;
            await c.ExecuteAsync("""
                INSERT INTO conversation_members (conversation_id, user_id, user_kind, is_member, joined_at) VALUES (@newId, @userId, 'staff', 1, @now)
                """, pair.Select(userId => new { newId, userId, now }), t);
            return true;
        }, ct);
        var id = created ? newId : (await db.QuerySingleOrDefaultAsync<string>("SELECT id FROM conversations WHERE direct_key = @key", new { key }, ct))!;
        var conversation = await GetAsync(user, id, ct);
        if (created)
            await bus.PublishAsync(Frames.ConversationEvent(conversation with { ReadSeq = null, DeliveredSeq = null, Unread = null }, new Audience(pair)), ct);
        return (conversation, created);
    }

    public async Task<ConversationDto> CreateGroupAsync(CurrentUser user, string? name, List<string>? memberIds, CancellationToken ct)
    {
        Access.RequireStaff(user);
        var v = new Validation();
        var groupName = v.Required("name", name, 100);
        var members = (memberIds ?? []).Append(user.Id).Distinct().ToList();
        if (members.Count > MaxGroupMembers)
            v.Add("member_ids", $"At most {MaxGroupMembers} members.");
        v.ThrowIfAny();
        await RequireColleaguesAsync(user, members, ct);

        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var id = Ids.New("cnv", clock);
        await db.InTransactionAsync((c, t) => InsertGroupAsync(c, t, id, user.OrgId, groupName, user.Id, members, now), ct);
        var conversation = await GetAsync(user, id, ct);
        await bus.PublishAsync(Frames.ConversationEvent(conversation with { ReadSeq = null, DeliveredSeq = null, Unread = null }, new Audience(members)), ct);
        return conversation;
    }

    /// <summary>A group conversation of staff members, in the caller's transaction; the server's own groups have no creator.</summary>
    public static async Task InsertGroupAsync(DbConnection c, DbTransaction t, string id, string orgId, string name, string? createdBy, IEnumerable<string> members, long now)
    {
        await c.ExecuteAsync("""
            INSERT INTO conversations (id, org_id, kind, name, state, created_by, created_at, updated_at)
            VALUES (@id, @orgId, 'group', @name, 'open', @createdBy, @now, @now)
            """, new { id, orgId, name, createdBy, now }, t);
        await c.ExecuteAsync("""
            INSERT INTO conversation_members (conversation_id, user_id, user_kind, is_member, joined_at) VALUES (@id, @userId, 'staff', 1, @now)
            """, members.Select(userId => new { id, userId, now }), t);
    }

    /// <summary>Managers, org admins and the group's creator add members; anyone may leave; they remove anyone.</summary>
    public async Task<ConversationDto> ChangeMembersAsync(CurrentUser user, string conversationId, IReadOnlyList<string> add, string? remove, CancellationToken ct)
    {
        var conversation = await access.ConversationAsync(user, conversationId, ct);
        if (conversation.Facts.Kind != ConversationKinds.Group)
            throw ApiException.Invalid("Only group conversations have members to change.");
        var leaving = remove == user.Id && add.Count == 0;
        var mayManage = user.IsOrgAdmin || user.Roles.Any(r => r.Role == Roles.Manager) || conversation.Facts.CreatedBy == user.Id;
        if (!leaving && !mayManage)
            throw ApiException.Forbidden("Only managers and the group's creator change its members.");
        if (add.Count + conversation.Members!.Count > MaxGroupMembers)
            throw ApiException.Invalid($"A group has at most {MaxGroupMembers} members.");
        await RequireColleaguesAsync(user, add, ct);
        if (remove is not null && !conversation.Members.Contains(remove))
            throw ApiException.NotFound("The member");

        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        await db.InTransactionAsync(async (c, t) =>
        {
            await c.ExecuteAsync("""
                INSERT INTO conversation_members (conversation_id, user_id, user_kind, is_member, joined_at) VALUES (@conversationId, @userId, 'staff', 1, @now)
                ON CONFLICT (conversation_id, user_id) DO UPDATE SET is_member = 1
                """, add.Select(userId => new { conversationId, userId, now }), t);
            if (remove is not null)
                await c.ExecuteAsync("UPDATE conversation_members SET is_member = 0 WHERE conversation_id = @conversationId AND user_id = @remove",
                    new { conversationId, remove }, t);
            await c.ExecuteAsync("UPDATE conversations SET updated_at = @now WHERE id = @conversationId", new { conversationId, now }, t);
        }, ct);

        var members = await directory.MembersAsync(conversationId, ct);
        var row = (await db.QuerySingleOrDefaultAsync<ConversationRow>($"SELECT {ConversationRow.Columns} FROM conversations WHERE id = @conversationId", new { conversationId }, ct))!;
        // Those who left hear it too, so their clients drop the conversation.
        var audience = new Audience(members.Concat(remove is null ? [] : [remove]).Distinct().ToList());
        await bus.PublishAsync(Frames.ConversationEvent(row.ToPushDto(members), audience), ct);
        return leaving ? row.ToPushDto(members) : await GetAsync(user, conversationId, ct);
    }

    /// <summary>Staff close a service conversation; the customer's next message opens it again.</summary>
    public async Task<ConversationDto> ResolveAsync(CurrentUser user, string conversationId, CancellationToken ct)
    {
        var conversation = await access.ConversationAsync(user, conversationId, ct);
        if (!user.IsStaff)
            throw ApiException.Forbidden("Only staff resolve conversations.");
        if (conversation.Facts.Kind != ConversationKinds.Service)
            throw ApiException.Invalid("Only service conversations are resolved.");
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var changed = await db.InTransactionAsync(async (c, t) =>
        {
            var changed = await c.ExecuteAsync("""
                UPDATE conversations SET state = 'resolved', resolved_at = @now, updated_at = @now, waiting_since = NULL
                WHERE id = @conversationId AND state <> 'resolved'
                """, new { conversationId, now }, t);
            if (changed > 0)
                await outbox.ConversationAsync(c, t, WebhookEventTypes.ConversationResolved, conversation.Facts.OrgId, conversationId, now);
            return changed;
        }, ct);
        var result = await GetAsync(user, conversationId, ct);
        if (changed > 0)
        {
            await bus.PublishAsync(Frames.ConversationEvent(result with { ReadSeq = null, DeliveredSeq = null, Unread = null, NotesId = null },
                conversation.Audience with { StoreId = conversation.Facts.StoreId }), ct);
            // The agent has room for the next waiting customer.
            signals.Drain(conversation.Facts.StoreId!);
            await csat.SendCardAsync(conversation.Facts, ct);
        }
        return result;
    }

    public async Task<ConversationDto> GetAsync(CurrentUser user, string conversationId, CancellationToken ct)
    {
        var conversation = user.IsApiClient
            ? await access.IntegrationConversationAsync(user, conversationId, Permissions.ConversationsRead, ct)
            : await access.ConversationAsync(user, conversationId, ct);
        var row = (await db.QuerySingleOrDefaultAsync<ConversationRow>($"{SelectForUser} WHERE c.id = @conversationId", new { userId = user.Id, conversationId }, ct))!;
        var notesId = user.IsStaff && row.Kind == ConversationKinds.Service
            ? await db.QuerySingleOrDefaultAsync<string>("SELECT id FROM conversations WHERE parent_id = @conversationId", new { conversationId }, ct)
            : null;
        return row.ToDto(notesId, conversation.Members);
    }

    /// <summary>
    /// The caller's conversations, most recently active first: a customer's service conversations; for staff, the
    /// service and notes conversations of their stores (all stores for org admins) and their direct and group ones.
    /// </summary>
    public async Task<IReadOnlyList<ConversationDto>> ListAsync(CurrentUser user, int limit, string? customerId, string? storeId, CancellationToken ct)
    {
        var take = Math.Clamp(limit, 1, 1000);
        if (user.IsApiClient)
            return await IntegrationListAsync(user, take, customerId, storeId, ct);
        var stores = Access.VisibleStores(user);
        string where;
        if (user.IsCustomer)
            where = "c.kind = 'service' AND c.customer_id = @userId";
        else if (stores is null)
            where = "(c.kind IN ('service', 'notes') OR (c.kind IN ('direct', 'group') AND m.is_member = 1))";
        else
            where = $"((c.kind IN ('service', 'notes') AND {db.Dialect.In("c.store_id", "@stores")}) OR (c.kind IN ('direct', 'group') AND m.is_member = 1))";
        var rows = await db.QueryAsync<ConversationRow>($"""
            {SelectForUser}
            WHERE c.org_id = @orgId AND {where}
              AND (@storeId IS NULL OR c.store_id = @storeId) AND (@customerId IS NULL OR c.customer_id = @customerId)
            ORDER BY c.updated_at DESC, c.id DESC LIMIT @take
            """, new { userId = user.Id, orgId = user.OrgId, stores, storeId, customerId, take }, ct);

        var groupIds = rows.Where(r => r.Kind is ConversationKinds.Direct or ConversationKinds.Group).Select(r => r.Id).ToArray();
        var members = (groupIds.Length == 0 ? [] : await db.QueryAsync<(string ConversationId, string UserId)>(
            $"SELECT conversation_id, user_id FROM conversation_members WHERE {db.Dialect.In("conversation_id", "@groupIds")} AND is_member = 1 ORDER BY joined_at, user_id",
            new { groupIds }, ct)).ToLookup(m => m.ConversationId, m => m.UserId);
        var serviceIds = user.IsStaff ? rows.Where(r => r.Kind == ConversationKinds.Service).Select(r => r.Id).ToArray() : [];
        var notes = serviceIds.Length == 0 ? new Dictionary<string, string>() : (await db.QueryAsync<(string ParentId, string Id)>(
            $"SELECT parent_id, id FROM conversations WHERE {db.Dialect.In("parent_id", "@serviceIds")}", new { serviceIds }, ct)).ToDictionary(n => n.ParentId, n => n.Id);
        return rows.Select(r => r.ToDto(notes.GetValueOrDefault(r.Id), members.Contains(r.Id) ? members[r.Id].ToList() : null)).ToList();
    }

    /// <summary>An API key's view: the service conversations of its organization (its store), by customer and store.</summary>
    private async Task<IReadOnlyList<ConversationDto>> IntegrationListAsync(CurrentUser user, int take, string? customerId, string? storeId, CancellationToken ct)
    {
        user.RequirePermission(Permissions.ConversationsRead);
        var stores = Access.VisibleStores(user);
        var rows = await db.QueryAsync<ConversationRow>($"""
            {SelectForUser}
            WHERE c.org_id = @orgId AND c.kind = 'service' {(stores is null ? "" : $"AND {db.Dialect.In("c.store_id", "@stores")}")}
              AND (@storeId IS NULL OR c.store_id = @storeId) AND (@customerId IS NULL OR c.customer_id = @customerId)
            ORDER BY c.updated_at DESC, c.id DESC LIMIT @take
            """, new { userId = user.Id, orgId = user.OrgId, stores, storeId, customerId, take }, ct);
        return rows.Select(r => r.ToDto(null, null)).ToList();
    }

    public async Task<IReadOnlyList<MessageDto>> HistoryAsync(CurrentUser user, string conversationId, long? afterSeq, long? beforeSeq, int? limit, CancellationToken ct)
    {
        if (user.IsApiClient)
            await access.IntegrationConversationAsync(user, conversationId, Permissions.ConversationsRead, ct);
        else
            await access.ConversationAsync(user, conversationId, ct);
        if (afterSeq is not null && beforeSeq is not null)
            throw ApiException.Invalid("Give after_seq or before_seq, not both.");
        var take = Math.Clamp(limit ?? 50, 1, 200);
        var rows = beforeSeq is not null
            ? await db.QueryAsync<MessageRow>($"SELECT {MessageRow.Columns} FROM messages WHERE conversation_id = @conversationId AND seq < @beforeSeq ORDER BY seq DESC LIMIT @take",
                new { conversationId, beforeSeq, take }, ct)
            : await db.QueryAsync<MessageRow>($"SELECT {MessageRow.Columns} FROM messages WHERE conversation_id = @conversationId AND seq > @afterSeq ORDER BY seq LIMIT @take",
                new { conversationId, afterSeq = afterSeq ?? 0, take }, ct);
        return rows.Select(r => r.ToDto()).ToList();
    }

    public async Task<IReadOnlyList<ReceiptDto>> ReceiptsAsync(CurrentUser user, string conversationId, CancellationToken ct)
    {
        await access.ConversationAsync(user, conversationId, ct);
        return (await db.QueryAsync<(string UserId, long ReadSeq, long DeliveredSeq)>(
            "SELECT user_id, read_seq, delivered_seq FROM conversation_members WHERE conversation_id = @conversationId ORDER BY user_id",
            new { conversationId }, ct)).Select(r => new ReceiptDto(conversationId, r.UserId, r.ReadSeq, r.DeliveredSeq)).ToList();
    }

    private async Task RequireColleaguesAsync(CurrentUser user, IReadOnlyList<string> staffIds, CancellationToken ct)
    {
        if (staffIds.Count == 0)
            return;
        // A JSON null in the list is nobody; it stays out of the query (Dapper cannot expand a list that starts with null).
        var ids = staffIds.Where(id => id is not null).Distinct().ToArray();
        var found = ids.Length == 0 ? [] :
            await db.QueryAsync<string>($"SELECT id FROM staff WHERE org_id = @orgId AND {db.Dialect.In("id", "@staffIds")}", new { orgId = user.OrgId, staffIds = ids }, ct);
        var missing = staffIds.Except(found).ToList();
        if (missing.Count > 0)
            throw new ApiException(ErrorCodes.InvalidRequest, "The request is not valid.",
                new Dictionary<string, string[]> { ["member_ids"] = [$"Not staff of your organization: {string.Join(", ", missing.Take(5).Select(id => id ?? "null"))}"] });
    }
}
