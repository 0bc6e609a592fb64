using System.Data.Common;
using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;

namespace StoreLink.Server.Integrations;

/// <summary>
/// The transactional outbox of outbound webhooks. Every event is written inside the transaction of the change that
/// caused it, as ONE statement that fans out to the organization's active subscriptions whose filter matches: an
/// organization without subscriptions pays that one indexed statement and nothing else. The dispatcher delivers the
/// rows after commit (woken by the change's real-time event when some transaction wrote deliveries since its last look, polling as a fallback); a rolled-back change leaves none.
/// </summary>
public sealed class Outbox(OutboxSignal signal)
{
    private const string FanOutSql = """
        INSERT INTO webhook_deliveries (subscription_id, event_id, org_id, event_type, payload, created_at, status, next_attempt_at, retry_from)
        SELECT s.id, @eventId, @orgId, @type, @payload, @now, 'pending', @now, @now
        FROM webhook_subscriptions s
        WHERE s.org_id = @orgId AND s.active = 1 AND (s.event_types = '*' OR s.event_types LIKE @pattern)
        """;

    private int Wrote(int deliveries)
    {
        if (deliveries > 0)
            signal.Wrote();
        return deliveries;
    }

    /// <summary>Writes one event for every matching subscription; returns how many deliveries it made.</summary>
    public async Task<int> EnqueueAsync(DbConnection c, DbTransaction t, string type, string orgId, string? storeId, object data, long now)
    {
        var (eventId, payload) = Payload(type, orgId, storeId, data, now);
        // Event types are validated names, so '_' (LIKE's one-character wildcard) can only match itself in practice.
        return Wrote(await c.ExecuteAsync(FanOutSql, new { eventId, orgId, type, payload, now, pattern = $"% {type} %" }, t));
    }

    /// <summary>
    /// For the message writer's prepared statement (<c>@org</c>): whether an organization has a subscription to
    /// <c>message.created</c>. The writer asks this for every message and builds the event only when the answer is yes.
    /// </summary>
    public const string MessageCreatedSubscribedSql = $"""
        SELECT 1 FROM webhook_subscriptions
        WHERE org_id = @org AND active = 1 AND (event_types = '*' OR event_types LIKE '% {WebhookEventTypes.MessageCreated} %')
        LIMIT 1
        """;

    /// <summary>
    /// <c>message.created</c> for a message of a service conversation (staff-only threads stay inside), written
    /// synchronously on the message writer's thread.
    /// </summary>
    /// <returns>Whether it wrote a delivery.</returns>
    public bool MessageCreated(DbConnection c, DbTransaction t, ConversationFacts conversation, MessageDto message)
    {
        if (conversation.Kind != ConversationKinds.Service)
            return false;
        var now = message.CreatedAt.ToUnixTimeMilliseconds();
        var (eventId, payload) = Payload(WebhookEventTypes.MessageCreated, conversation.OrgId, conversation.StoreId, new { message }, now);
        return Wrote(c.Execute(FanOutSql, new { eventId, orgId = conversation.OrgId, type = WebhookEventTypes.MessageCreated, payload, now, pattern = $"% {WebhookEventTypes.MessageCreated} %" }, t)) > 0;
    }

    private static (string EventId, string Payload) Payload(string type, string orgId, string? storeId, object data, long now)
    {
        var eventId = Ids.New("evt");
        // The exact bytes that are signed and sent, fixed now: a retry sends the object as it was at the change.
        return (eventId, JsonSerializer.Serialize(new
        {
            id = eventId, type, created_at = DateTimeOffset.FromUnixTimeMilliseconds(now), org_id = orgId, store_id = storeId, data,
        }, ProtocolJson.Options));
    }

    /// <summary>
    /// Whether the organization has an active subscription to one of <paramref name="types"/>: one indexed read.
    /// Events whose object must first be read or built ask this before doing that work, so an organization without
    /// subscriptions pays this one statement and nothing else.
    /// </summary>
    public static async Task<bool> SubscribedAsync(DbConnection c, DbTransaction t, string orgId, params string[] types)
    {
        var args = new DynamicParameters();
        args.Add("orgId", orgId);
        for (var i = 0; i < types.Length; i++)
            args.Add($"p{i}", $"% {types[i]} %");
        var sql = "SELECT 1 FROM webhook_subscriptions WHERE org_id = @orgId AND active = 1 AND (event_types = '*'"
            + string.Concat(types.Select((_, i) => $" OR event_types LIKE @p{i}")) + ") LIMIT 1";
        return await c.QuerySingleOrDefaultAsync<long?>(sql, args, t) is not null;
    }

    /// <summary>A conversation event with the conversation as pushed to staff, read inside the transaction.</summary>
    public async Task ConversationAsync(DbConnection c, DbTransaction t, string type, string orgId, string conversationId, long now)
    {
        if (!await SubscribedAsync(c, t, orgId, type))
            return;
        var row = await c.QuerySingleAsync<ConversationRow>($"SELECT {ConversationRow.Columns} FROM conversations WHERE id = @conversationId", new { conversationId }, t);
        await EnqueueAsync(c, t, type, row.OrgId, row.StoreId, new { conversation = row.ToPushDto() }, now);
    }
}

/// <summary>
/// Counts the transactions of this node that wrote webhook deliveries (rolled-back ones too). The dispatcher compares
/// it with what it saw last when a real-time event arrives after a commit, and wakes only when it moved.
/// </summary>
public sealed class OutboxSignal
{
    private long _written;

    public long Written => Interlocked.Read(ref _written);

    public void Wrote() => Interlocked.Increment(ref _written);
}
