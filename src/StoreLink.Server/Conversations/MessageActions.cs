using System.Globalization;
using System.Text;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Conversations;

/// <summary>
/// Sending, receipts, recall and typing: the same checks and answers for REST and WebSocket callers.
/// Writes go through the <see cref="MessageWriter"/>, which publishes after commit.
/// </summary>
public sealed class MessageActions(
    Db db, Access access, MessageWriter writer, Desk.Router router, IEventBus bus, TimeProvider clock, IOptions<MessageOptions> options,
    ILogger<MessageActions> logger)
{
    public async Task<SendResult> SendAsync(CurrentUser user, string conversationId, SendMessageRequest request, string? connectionId, CancellationToken ct) =>
        await (await BeginSendAsync(user, conversationId, request, connectionId, ct)).CompleteAsync();

    /// <summary>
    /// Checks a send and queues it for the writer; what it returns completes the send. Callers that pipeline (the
    /// gateway) check and queue a connection's sends one after another, so they are stored in the order they were
    /// sent, and complete them in the same order. <paramref name="request"/>'s body is read only until this returns.
    /// </summary>
    public async Task<PendingSend> BeginSendAsync(CurrentUser user, string conversationId, SendMessageRequest request, string? connectionId, CancellationToken ct)
    {
        // An API key posts as the store's system (sender kind bot, named after the key) into service conversations.
        var conversation = user.IsApiClient
            ? await access.IntegrationConversationAsync(user, conversationId, Permissions.MessagesWrite, ct)
            : await access.ConversationAsync(user, conversationId, ct);
        var clientMsgId = request.ClientMsgId;
        if (string.IsNullOrWhiteSpace(clientMsgId) || clientMsgId.Length > 64)
            throw Invalid("client_msg_id", "Required: an id the client chose for this message (at most 64 characters), reused on every retry.");
        if (user.IsApiClient && request.Kind is not (MessageKinds.Text or MessageKinds.Location))
            throw Invalid("kind", "API keys post text and location messages.");
        var mentions = user.IsApiClient ? null : await MentionsAsync(user, conversation, request, ct);
        var (kind, body, attachmentId) = await ValidateAsync(user, request.Kind, request.Body, mentions, ct);
        var service = conversation.Facts.Kind == ConversationKinds.Service;
        var assignee = conversation.AssigneeId;
        // Answering a conversation nobody serves takes it; of two colleagues answering at once, one takes it.
        if (service && user.IsStaff && assignee is null && conversation.State != "resolved")
            assignee = await router.ClaimAsync(conversation.Facts, user.Id, ct);
        if (service && user.IsStaff && assignee is not null && assignee != user.Id &&
            !(conversation.WatcherIds ?? []).Contains(user.Id) && !user.HasStoreRole(conversation.Facts.StoreId!, Roles.Manager))
        {
            // A retry of a message stored before a colleague took over still answers the stored message.
            if (await db.QuerySingleOrDefaultAsync<MessageRow>($"SELECT {MessageRow.Columns} FROM messages WHERE sender_id = @senderId AND client_msg_id = @clientMsgId AND conversation_id = @conversationId",
                    new { senderId = user.Id, clientMsgId, conversationId }, ct) is { } stored)
                return new PendingSend(Task.FromResult(new SendResult(stored.ToDto(), Created: false)), null);
            throw ApiException.Forbidden("A colleague serves this conversation: ask them or a manager to transfer it, or follow it as a watcher.");
        }

        var message = new NewMessage(
            Ids.New("msg", clock), conversation.Facts, conversation.Audience, user.Id, user.IsCustomer ? "customer" : user.IsApiClient ? "bot" : "staff", user.Name,
            clientMsgId, kind, body, attachmentId, clock.GetUtcNow().ToUnixTimeMilliseconds(),
            Reopen: user.IsCustomer && conversation.State is "resolved" or "pending", connectionId);
        var committed = await writer.EnqueueAsync(message, ct);
        return new PendingSend(committed, async result =>
        {
            // The message is committed: what follows runs to its end whatever happens to the caller, and a failure
            // here is logged, not answered (the sender's retry would find the message stored and change nothing).
            try
            {
                if (result.Created && mentions is { Count: > 0 })
                    await NotifyMentionedAsync(conversation.Facts, result.Message, mentions, CancellationToken.None);
                // A conversation that is served or already waits needs no routing (the writer saw its state at commit).
                if (result.Created && service && user.IsCustomer && (result.Reopened || (result.AssigneeId is null && !result.Waiting)))
                    await router.OnCustomerMessageAsync(conversation.Facts, kind == MessageKinds.Text ? result.Message.Body?.GetProperty("text").GetString() : null,
                        result.Reopened, CancellationToken.None);
            }
            catch (Exception e)
            {
                logger.LogError(e, "After message {MessageId} was stored, notifying or routing failed", result.Message.Id);
            }
        });
    }

    /// <summary>Moves the caller's read (and so delivered) or delivered watermark forward, up to the last message.</summary>
    public async Task<ReceiptDto> MarkAsync(CurrentUser user, string conversationId, long? seq, bool read, string? connectionId, CancellationToken ct)
    {
        if (user.IsApiClient)
            throw ApiException.Forbidden("API keys have no receipts.");
        var conversation = await access.ConversationAsync(user, conversationId, ct);
        if (seq is null or < 0)
            throw Invalid("seq", "Required: the seq up to which messages were " + (read ? "read." : "delivered."));
        var lastSeq = await db.QuerySingleOrDefaultAsync<long>("SELECT last_seq FROM conversations WHERE id = @conversationId", new { conversationId }, ct);
        var upTo = Math.Min(seq.Value, lastSeq);
        return await writer.MarkAsync(new Watermark(
            conversation.Facts, conversation.Audience, user.Id, user.IsCustomer ? "customer" : "staff",
            read ? upTo : 0, upTo, connectionId), ct);
    }

    /// <summary>
    /// The sender within the organization's recall window, or a manager of the conversation's store (and org admins)
    /// at any time. The message keeps its seq and loses its body; its attachments stop being served.
    /// </summary>
    public async Task<MessageDto> RecallAsync(CurrentUser user, string messageId, CancellationToken ct)
    {
        var (message, conversation) = await access.MessageAsync(user, messageId, ct);
        if (message.RecalledAt is not null)
            return message.ToDto();
        if (message.SenderKind is "bot" or "system" && !user.IsOrgAdmin)
            throw ApiException.Forbidden("Only an organization admin may recall what the server wrote.");
        var window = await db.QuerySingleOrDefaultAsync<long>("SELECT recall_window_seconds FROM organizations WHERE id = @orgId", new { orgId = user.OrgId }, ct);
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var isSenderInTime = message.SenderId == user.Id && now - message.CreatedAt <= window * 1000;
        var isManager = user.IsOrgAdmin || (conversation.Facts.StoreId is { } store && user.HasStoreRole(store, Roles.Manager));
        if (!isSenderInTime && !isManager)
            throw ApiException.Forbidden(message.SenderId == user.Id
                ? $"Messages can be recalled within {window / 60.0:0.#} minutes of sending."
                : "Only the sender or a manager of the store may recall a message.");

        var changed = await db.ExecuteAsync(
            "UPDATE messages SET body = NULL, recalled_at = @now, recalled_by = @by WHERE id = @id AND recalled_at IS NULL",
            new { now, by = user.Id, id = message.Id }, ct);
        if (changed > 0)
            await bus.PublishAsync(Frames.RecalledEvent(message.ConversationId, message.Id, message.Seq, conversation.Audience), ct);
        message.RecalledAt = now;
        return message.ToDto();
    }

    public const int MaxMentions = 20;

    /// <summary>
    /// The colleagues a text note names in <c>body.mentions</c>: staff of the conversation's store, only in a notes
    /// thread (the customer never sees a notes thread, so never a mention).
    /// </summary>
    private async Task<IReadOnlyList<string>?> MentionsAsync(CurrentUser user, ConversationAccess conversation, SendMessageRequest request, CancellationToken ct)
    {
        if (request.Body is not { ValueKind: JsonValueKind.Object } b || !b.TryGetProperty("mentions", out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (conversation.Facts.Kind != ConversationKinds.Notes || request.Kind != MessageKinds.Text)
            throw Invalid("body.mentions", "Colleagues are mentioned in text notes of a notes thread.");
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() > MaxMentions || value.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
            throw Invalid("body.mentions", $"A list of at most {MaxMentions} staff ids.");
        var ids = value.EnumerateArray().Select(e => e.GetString()!).Where(id => id != user.Id).Distinct().ToList();
        if (ids.Count == 0 || ids.Any(id => id.Length > 64))
            return ids.Count == 0 ? null : throw Invalid("body.mentions", "Not a staff id.");
        var known = await db.QueryAsync<string>($"""
            SELECT DISTINCT s.id FROM staff s JOIN staff_roles r ON r.staff_id = s.id
            WHERE s.org_id = @orgId AND s.disabled_at IS NULL AND {db.Dialect.In("s.id", "@ids")}
              AND (r.store_id = @storeId OR r.role = 'org_admin')
            """, new { orgId = user.OrgId, storeId = conversation.Facts.StoreId, ids }, ct);
        var unknown = ids.Except(known).ToList();
        if (unknown.Count > 0)
            throw Invalid("body.mentions", $"Not staff of this store: {string.Join(", ", unknown)}.");
        return ids;
    }

    /// <summary>Each mentioned colleague gets a <c>mention</c> push (whether or not they follow the conversation) and a row for their list.</summary>
    private async Task NotifyMentionedAsync(ConversationFacts notes, MessageDto message, IReadOnlyList<string> mentions, CancellationToken ct)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        await db.InTransactionAsync(async (c, t) =>
        {
            foreach (var staffId in mentions)
                await c.ExecuteAsync("""
                    INSERT INTO mentions (message_id, staff_id, conversation_id, parent_id, created_at)
                    VALUES (@messageId, @staffId, @conversationId, @parentId, @now) ON CONFLICT DO NOTHING
                    """, new { messageId = message.Id, staffId, conversationId = notes.Id, parentId = notes.ParentId, now }, t);
        }, ct);
        await bus.PublishAsync(new RealtimeEvent(RealtimeEventKind.Push, new Audience(mentions),
            Frames.Serialize(new { type = "mention", conversation_id = notes.Id, parent_id = notes.ParentId, message })), ct);
    }

    /// <summary>"Who is viewing": staff tell colleagues they have a conversation open (<c>active</c>) or closed it.</summary>
    public async Task ViewingAsync(CurrentUser user, string conversationId, bool active, string connectionId, CancellationToken ct)
    {
        var conversation = await access.ConversationAsync(user, conversationId, ct);
        if (!user.IsStaff)
            throw ApiException.Forbidden("Only staff tell colleagues what they are viewing.");
        var audience = conversation.Audience;
        // Colleagues only: the customer of a service conversation never learns who is looking.
        audience = audience with { UserIds = audience.UserIds.Where(id => id != conversation.Facts.CustomerId).ToList() };
        await bus.PublishAsync(new RealtimeEvent(RealtimeEventKind.Push, audience,
            Frames.Serialize(new { type = "viewing", conversation_id = conversationId, user_id = user.Id, name = user.Name, active }), connectionId), ct);
    }

    public async Task TypingAsync(CurrentUser user, string conversationId, string connectionId, CancellationToken ct)
    {
        var conversation = await access.ConversationAsync(user, conversationId, ct);
        await bus.PublishAsync(Frames.TypingEvent(conversationId, user.Id, conversation.Audience, connectionId), ct);
    }

    /// <summary>Checks a client's message body and returns the stored form: only the known members, normalized.</summary>
    private async Task<(string Kind, string Body, string? AttachmentId)> ValidateAsync(
        CurrentUser user, string? kind, JsonElement? body, IReadOnlyList<string>? mentions, CancellationToken ct)
    {
        if (kind is MessageKinds.Card or MessageKinds.System or MessageKinds.Call)
            throw Invalid("kind", "card, system and call messages are written by the server only.");
        if (body is not { ValueKind: JsonValueKind.Object } b)
            throw Invalid("body", "Required: an object whose members depend on the kind.");
        switch (kind)
        {
            case MessageKinds.Text:
                var text = String(b, "text");
                if (string.IsNullOrWhiteSpace(text))
                    throw Invalid("body.text", "Required: the text.");
                var length = text.EnumerateRunes().Count();
                if (length > options.Value.MaxTextLength)
                    throw new ApiException(ErrorCodes.TooLarge, $"A text message is at most {options.Value.MaxTextLength} characters; this one has {length}.");
                return (kind, Json(w =>
                {
                    w.WriteString("text", text);
                    if (mentions is { Count: > 0 })
                    {
                        w.WriteStartArray("mentions");
                        foreach (var id in mentions)
                            w.WriteStringValue(id);
                        w.WriteEndArray();
                    }
                }), null);

            case MessageKinds.Image or MessageKinds.Video or MessageKinds.File or MessageKinds.Voice:
                var attachment = await OwnAttachmentAsync(user, String(b, "attachment_id"), ct);
                var family = attachment.ContentType.Split('/')[0];
                if (kind == MessageKinds.Image && family != "image")
                    throw Invalid("body.attachment_id", "An image message needs an image attachment.");
                if (kind == MessageKinds.Video && family != "video")
                    throw Invalid("body.attachment_id", "A video message needs a video attachment.");
                if (kind == MessageKinds.Voice && family is not ("audio" or "video"))
                    throw Invalid("body.attachment_id", "A voice message needs an audio attachment.");
                long? duration = null;
                if (kind == MessageKinds.Voice)
                {
                    duration = Number(b, "duration_ms");
                    if (duration is null or <= 0 || duration > options.Value.MaxVoiceMilliseconds)
                        throw Invalid("body.duration_ms", $"Required: the length in milliseconds, at most {options.Value.MaxVoiceMilliseconds}.");
                }
                return (kind, Json(w =>
                {
                    w.WriteString("attachment_id", attachment.Id);
                    w.WriteString("name", attachment.Name);
                    w.WriteString("content_type", attachment.ContentType);
                    w.WriteNumber("size", attachment.Size);
                    if (duration is not null)
                        w.WriteNumber("duration_ms", duration.Value);
                }), attachment.Id);

            case MessageKinds.Location:
                var latitude = Double(b, "latitude");
                var longitude = Double(b, "longitude");
                if (latitude is null or < -90 or > 90)
                    throw Invalid("body.latitude", "Required: -90 to 90.");
                if (longitude is null or < -180 or > 180)
                    throw Invalid("body.longitude", "Required: -180 to 180.");
                var label = String(b, "label");
                if (label is { Length: > 200 })
                    throw new ApiException(ErrorCodes.TooLarge, "A location label is at most 200 characters.");
                return (kind, Json(w =>
                {
                    w.WriteNumber("latitude", latitude.Value);
                    w.WriteNumber("longitude", longitude.Value);
                    if (!string.IsNullOrWhiteSpace(label))
                        w.WriteString("label", label);
                }), null);

            default:
                throw Invalid("kind", "One of text, image, voice, video, file, location.");
        }
    }

    private async Task<AttachmentRow> OwnAttachmentAsync(CurrentUser user, string? attachmentId, CancellationToken ct)
    {
        var attachment = string.IsNullOrEmpty(attachmentId) || attachmentId.Length > 64 ? null
            : await db.QuerySingleOrDefaultAsync<AttachmentRow>($"SELECT {AttachmentRow.Columns} FROM attachments WHERE id = @attachmentId", new { attachmentId }, ct);
        // Only the sender's own uploads; anything else is as good as missing.
        if (attachment is null || attachment.UploaderId != user.Id || attachment.OrgId != user.OrgId)
            throw Invalid("body.attachment_id", "Required: the id of an attachment you uploaded.");
        return attachment;
    }

    private static string? String(JsonElement body, string name) =>
        !body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind == JsonValueKind.String ? value.GetString()
        : throw Invalid($"body.{name}", "Must be a string.");

    private static long? Number(JsonElement body, string name) =>
        !body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) ? number
        : throw Invalid($"body.{name}", "Must be a whole number.");

    private static double? Double(JsonElement body, string name) =>
        !body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var number) && double.IsFinite(number) ? number
        : throw Invalid($"body.{name}", "Must be a number.");

    private static string Json(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static ApiException Invalid(string field, string message) =>
        new(ErrorCodes.InvalidRequest, "The request is not valid.", new Dictionary<string, string[]> { [field] = [message] });
}

/// <summary>A send that passed its checks and is queued: <see cref="CompleteAsync"/> waits for the commit and does what follows it.</summary>
public sealed class PendingSend(Task<SendResult> committed, Func<SendResult, Task>? afterCommit)
{
    public async Task<SendResult> CompleteAsync()
    {
        var result = await committed;
        if (afterCommit is not null)
            await afterCommit(result);
        return result;
    }
}
