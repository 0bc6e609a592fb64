using System.Collections.Concurrent;
using System.Text.Json;
using StoreLink.Protocol;
using StoreLink.Server.Data;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Conversations;

public static class ConversationKinds
{
    public const string Service = "service";
    public const string Notes = "notes";
    public const string Direct = "direct";
    public const string Group = "group";
}

public class ConversationRow
{
    public const string Columns = "id, org_id, kind, store_id, customer_id, parent_id, name, state, last_seq, created_by, created_at, updated_at, " +
        "queue_id, assignee_id, assigned_at, waiting_since, priority, first_customer_at, first_response_at, resolved_at, labels, watcher_ids";

    public string Id { get; set; } = "";
    public string OrgId { get; set; } = "";
    public string Kind { get; set; } = "";
    public string? StoreId { get; set; }
    public string? CustomerId { get; set; }
    public string? ParentId { get; set; }
    public string? Name { get; set; }
    public string State { get; set; } = "open";
    public long LastSeq { get; set; }
    public string? CreatedBy { get; set; }
    public long CreatedAt { get; set; }
    public long UpdatedAt { get; set; }
    public string? QueueId { get; set; }
    public string? AssigneeId { get; set; }
    public long? AssignedAt { get; set; }
    public long? WaitingSince { get; set; }
    public long Priority { get; set; }
    public long? FirstCustomerAt { get; set; }
    public long? FirstResponseAt { get; set; }
    public long? ResolvedAt { get; set; }
    public string Labels { get; set; } = "[]";
    public string WatcherIds { get; set; } = "[]";

    public IReadOnlyList<string> Watchers => ParseWatchers(WatcherIds);

    /// <summary><c>watcher_ids</c> as stored (a JSON array, most often empty: read for every message, so that case is free).</summary>
    public static IReadOnlyList<string> ParseWatchers(string? json) =>
        json is null or "[]" ? [] : JsonSerializer.Deserialize<string[]>(json) ?? [];

    /// <summary>The row with the caller's watermarks (read through a LEFT JOIN on conversation_members).</summary>
    public long ReadSeq { get; set; }
    public long DeliveredSeq { get; set; }

    public ConversationFacts Facts => new(Id, OrgId, Kind, StoreId, CustomerId, ParentId, CreatedBy);

    public ConversationDto ToDto(string? notesId, IReadOnlyList<string>? members) => new(
        Id, Kind, StoreId, CustomerId, ParentId, notesId, Name, State, LastSeq, ReadSeq, DeliveredSeq,
        Math.Max(0, LastSeq - ReadSeq), members,
        DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt), DateTimeOffset.FromUnixTimeMilliseconds(UpdatedAt))
    {
        QueueId = QueueId,
        AssigneeId = AssigneeId,
        Waiting = Kind == ConversationKinds.Service && AssigneeId is null && WaitingSince is not null && State != "resolved" ? true : null,
        Labels = Kind == ConversationKinds.Service ? JsonSerializer.Deserialize<string[]>(Labels) : null,
        WatcherIds = Kind == ConversationKinds.Service ? Watchers : null,
    };

    /// <summary>For pushes to many users: without anyone's own watermarks.</summary>
    public ConversationDto ToPushDto(IReadOnlyList<string>? members = null) => ToDto(null, members) with { ReadSeq = null, DeliveredSeq = null, Unread = null };
}

/// <summary>What never changes about a conversation: safe to cache on any node.</summary>
public sealed record ConversationFacts(string Id, string OrgId, string Kind, string? StoreId, string? CustomerId, string? ParentId, string? CreatedBy)
{
    public bool IsStoreConversation => Kind is ConversationKinds.Service or ConversationKinds.Notes;

    /// <summary>
    /// Who receives its events. A service conversation: its customer, and while nobody is assigned every staff member
    /// of the store (so someone picks it up), once assigned the assignee, the watchers and the store's managers;
    /// org admins always. Notes: the store's staff. Direct and group: the members.
    /// </summary>
    public Audience Audience(IReadOnlyList<string>? members, string? assigneeId = null, IReadOnlyList<string>? watchers = null) => Kind switch
    {
        ConversationKinds.Service when assigneeId is not null =>
            new Audience([CustomerId!, assigneeId, .. watchers ?? []], OrgAdminsOf: OrgId, ManagersOf: StoreId),
        ConversationKinds.Service => new Audience([CustomerId!], StoreId, OrgId),
        ConversationKinds.Notes => new Audience([], StoreId, OrgId),
        _ => new Audience(members ?? []),
    };
}

public class MessageRow
{
    public const string Columns = "id, conversation_id, seq, sender_id, sender_kind, sender_name, client_msg_id, kind, body, created_at, recalled_at";

    /// <summary><see cref="Columns"/> of a table alias, for joins.</summary>
    public static string ColumnsOf(string alias) => string.Join(", ", Columns.Split(", ").Select(c => $"{alias}.{c}"));

    public string Id { get; set; } = "";
    public string ConversationId { get; set; } = "";
    public long Seq { get; set; }
    public string SenderId { get; set; } = "";
    public string SenderKind { get; set; } = "";
    public string SenderName { get; set; } = "";
    public string? ClientMsgId { get; set; }
    public string Kind { get; set; } = "";
    public string? Body { get; set; }
    public long CreatedAt { get; set; }
    public long? RecalledAt { get; set; }

    public MessageDto ToDto() => new(
        Id, ConversationId, Seq, ClientMsgId, new SenderDto(SenderId, SenderKind, SenderName), Kind,
        RecalledAt is null && Body is not null ? JsonDocument.Parse(Body).RootElement.Clone() : null,
        DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt), RecalledAt is not null);
}

/// <summary>
/// Conversation facts (cached: they never change) and members of direct and group conversations (always read,
/// since they change).
/// </summary>
public sealed class ConversationDirectory(Db db)
{
    private const int MaxCached = 200_000;
    private readonly ConcurrentDictionary<string, ConversationFacts> _facts = new();

    public async Task<ConversationFacts?> FactsAsync(string id, CancellationToken ct)
    {
        if (_facts.TryGetValue(id, out var facts))
            return facts;
        if (id.Length > 64)
            return null;
        var row = await db.QuerySingleOrDefaultAsync<ConversationRow>(
            $"SELECT {ConversationRow.Columns} FROM conversations WHERE id = @id", new { id }, ct);
        if (row is null)
            return null;
        if (_facts.Count >= MaxCached)
            _facts.Clear();
        return _facts[id] = row.Facts;
    }

    public async Task<IReadOnlyList<string>> MembersAsync(string conversationId, CancellationToken ct) =>
        await db.QueryAsync<string>(
            "SELECT user_id FROM conversation_members WHERE conversation_id = @conversationId AND is_member = 1 ORDER BY joined_at, user_id",
            new { conversationId }, ct);
}
