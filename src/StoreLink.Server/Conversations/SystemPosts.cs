using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Conversations;

/// <summary>
/// The one way the server writes into a conversation: system messages and cards (desk auto-replies, work-item and
/// appointment cards, reminders, notifications, stock alerts, command outcomes, CSAT), messages it carries over in a
/// person's name (the photos of a request), and the customer's service conversation they go to, found or created.
/// Every post is a <see cref="NewMessage"/> for the <see cref="MessageWriter"/>, exactly like a user's send: it takes
/// the conversation's next seq, is pushed after its commit and raises <c>message.created</c>. A <c>clientMsgId</c>
/// makes a post idempotent (a notice delivered twice is stored once); a post never reopens a conversation.
/// </summary>
public sealed class SystemPosts(Db db, MessageWriter writer, ConversationDirectory directory, TimeProvider clock)
{
    private const string SystemSender = "system";

    private const string FindUnresolved = """
        SELECT id FROM conversations WHERE kind = 'service' AND customer_id = @customerId AND store_id = @storeId AND state <> 'resolved'
        """;

    private const string FindLatest = """
        SELECT id FROM conversations WHERE kind = 'service' AND customer_id = @customerId AND store_id = @storeId
        ORDER BY CASE WHEN state = 'resolved' THEN 1 ELSE 0 END, updated_at DESC, id LIMIT 1
        """;

    /// <summary>The language of the conversation's customer (<see cref="Texts"/>).</summary>
    public async Task<string> LanguageAsync(ConversationFacts facts, CancellationToken ct) =>
        Texts.LanguageOf(facts.CustomerId is null ? null
            : await db.QuerySingleOrDefaultAsync<string>("SELECT attributes FROM customers WHERE id = @id", new { id = facts.CustomerId }, ct));

    /// <summary>
    /// A system or card message. Group conversations pass their members' <paramref name="audience"/>. The sender's name
    /// is in the customer's language (a conversation without a customer: the <paramref name="language"/> given, else the default).
    /// </summary>
    public async Task<MessageDto> PostAsync(ConversationFacts facts, string kind, object body, CancellationToken ct, string? clientMsgId = null, Audience? audience = null,
        string? language = null)
    {
        var json = JsonSerializer.Serialize(body, ProtocolJson.Options);
        var sender = Texts.Get(facts.CustomerId is null ? language ?? Texts.DefaultLanguage : await LanguageAsync(facts, ct), "system_sender");
        var sent = await writer.SendAsync(new NewMessage(Ids.New("msg", clock), facts, audience ?? facts.Audience(null), SystemSender, "system", sender,
            clientMsgId, kind, json, null, clock.GetUtcNow().ToUnixTimeMilliseconds(), Reopen: false, null), ct);
        return sent.Message;
    }

    /// <summary>A system message in the language of the conversation's customer.</summary>
    public async Task<MessageDto> PostSystemAsync(ConversationFacts facts, Func<string, string> textIn, CancellationToken ct, string? clientMsgId = null) =>
        await PostAsync(facts, MessageKinds.System, new { text = textIn(await LanguageAsync(facts, ct)) }, ct, clientMsgId);

    /// <summary>
    /// An attachment message in someone's name (a technician's photos, a customer's rework photos), stored once per
    /// <paramref name="clientMsgId"/> (<see cref="SendResult.Created"/> false for a repeat); nothing (null) when the attachment is gone.
    /// </summary>
    public async Task<SendResult?> PostAsAsync(ConversationFacts facts, string senderId, string senderKind, string kind, string attachmentId, string clientMsgId, CancellationToken ct)
    {
        var attachment = await db.QuerySingleOrDefaultAsync<AttachmentRow>($"SELECT {AttachmentRow.Columns} FROM attachments WHERE id = @attachmentId", new { attachmentId }, ct);
        if (attachment is null)
            return null;
        string? name;
        if (senderKind == "staff")
            name = await db.QuerySingleOrDefaultAsync<string>("SELECT name FROM staff WHERE id = @senderId", new { senderId }, ct);
        else
        {
            var customer = await db.QuerySingleOrDefaultAsync<(string? Name, string? Attributes)>(
                "SELECT name, attributes FROM customers WHERE id = @senderId", new { senderId }, ct);
            name = CustomerNames.Display(senderId, customer.Name, Texts.LanguageOf(customer.Attributes));
        }
        var body = JsonSerializer.Serialize(new { attachment_id = attachment.Id, name = attachment.Name, content_type = attachment.ContentType, size = attachment.Size });
        return await writer.SendAsync(new NewMessage(Ids.New("msg", clock), facts, facts.Audience(null), senderId, senderKind, name ?? "",
            clientMsgId, kind, body, attachment.Id, clock.GetUtcNow().ToUnixTimeMilliseconds(), Reopen: false, null), ct);
    }

    /// <summary>
    /// The service conversation the server writes to a customer in: <paramref name="linkedId"/> if it still exists,
    /// else the one <see cref="EnsureServiceConversationAsync"/> finds or creates for the server.
    /// </summary>
    public async Task<ConversationFacts> ServiceConversationAsync(string orgId, string storeId, string customerId, string? linkedId, CancellationToken ct)
    {
        if (linkedId is not null && await directory.FactsAsync(linkedId, ct) is { } linked)
            return linked;
        var (id, _) = await EnsureServiceConversationAsync(orgId, storeId, customerId, null, byCustomer: false, ct);
        return (await directory.FactsAsync(id, ct))!;
    }

    /// <summary>
    /// A customer's service conversation with a store, created with its notes thread when there is none.
    /// <paramref name="byCustomer"/>: the customer opens it, so only an unresolved one will do, else a new open one
    /// (in <paramref name="queueId"/> when it is a queue of the store); of two openings at once the unique index lets
    /// one create it and the other finds it. By the server (a card, a notice): the unresolved one, else the latest
    /// resolved one, else a new resolved one, which reaches the inbox only when the customer answers.
    /// </summary>
    public async Task<(string Id, bool Created)> EnsureServiceConversationAsync(
        string orgId, string storeId, string customerId, string? queueId, bool byCustomer, CancellationToken ct)
    {
        var find = byCustomer ? FindUnresolved : FindLatest;
        var args = new { customerId, storeId };
        if (await db.QuerySingleOrDefaultAsync<string>(find, args, ct) is { } existing)
            return (existing, false);
        var id = Ids.New("cnv", clock);
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var created = await db.InTransactionAsync(async (c, t) =>
        {
            var inserted = await c.ExecuteAsync("""
                INSERT INTO conversations (id, org_id, kind, store_id, customer_id, state, created_by, created_at, updated_at, queue_id)
                VALUES (@id, @orgId, 'service', @storeId, @customerId, @state, @customerId, @now, @now,
                        (SELECT id FROM queues WHERE id = @queueId AND store_id = @storeId))
                ON CONFLICT (customer_id, store_id) WHERE kind = 'service' AND state <> 'resolved' DO NOTHING
                """, new { id, orgId, storeId, customerId, state = byCustomer ? "open" : "resolved", now, queueId }, t);
            if (inserted == 0)
                return false;
            await c.ExecuteAsync("""
                INSERT INTO conversations (id, org_id, kind, store_id, parent_id, state, created_by, created_at, updated_at)
                VALUES (@notesId, @orgId, 'notes', @storeId, @id, 'open', @customerId, @now, @now)
                """, new { notesId = Ids.New("cnv", clock), id, orgId, storeId, customerId, now }, t);
            await c.ExecuteAsync("""
                INSERT INTO conversation_members (conversation_id, user_id, user_kind, is_member, joined_at) VALUES (@id, @customerId, 'customer', 1, @now)
                """, new { id, customerId, now }, t);
            return true;
        }, ct);
        return created ? (id, true) : ((await db.QuerySingleOrDefaultAsync<string>(find, args, ct))!, false);
    }
}
