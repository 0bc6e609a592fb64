using System.Text.Json;

namespace StoreLink.Protocol;

/// <summary>Who wrote a message. <c>kind</c>: <c>customer</c>, <c>staff</c>, <c>bot</c> or <c>system</c>.</summary>
public sealed record SenderDto(string Id, string Kind, string Name);

/// <summary>
/// A message. <c>seq</c> is 1, 2, 3, … within its conversation with no gaps. A recalled message keeps its
/// <c>seq</c>, has <c>recalled: true</c> and no <c>body</c>.
/// </summary>
public sealed record MessageDto(
    string Id, string ConversationId, long Seq, string? ClientMsgId, SenderDto Sender, string Kind,
    JsonElement? Body, DateTimeOffset CreatedAt, bool Recalled);

/// <summary><c>POST /v1/conversations/{id}/messages</c> and the WebSocket <c>send</c> frame.</summary>
public sealed record SendMessageRequest(string? ClientMsgId, string? Kind, JsonElement? Body);

/// <summary>
/// A conversation as the caller sees it. <c>kind</c>: <c>service</c> (a customer and a store), <c>notes</c>
/// (the staff-only companion thread of a service conversation, <c>parent_id</c>), <c>direct</c> or <c>group</c> (staff).
/// <c>read_seq</c>, <c>delivered_seq</c> and <c>unread</c> are the caller's; pushed <c>conversation</c> frames leave them out.
/// </summary>
public sealed record ConversationDto(
    string Id, string Kind, string? StoreId, string? CustomerId, string? ParentId, string? NotesId, string? Name,
    string State, long LastSeq, long? ReadSeq, long? DeliveredSeq, long? Unread,
    IReadOnlyList<string>? MemberIds, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    /// <summary>Service conversations: the queue it is in.</summary>
    public string? QueueId { get; init; }

    /// <summary>Service conversations: the agent serving it.</summary>
    public string? AssigneeId { get; init; }

    /// <summary>Service conversations: true while it waits for an agent.</summary>
    public bool? Waiting { get; init; }

    /// <summary>Service conversations: its labels.</summary>
    public IReadOnlyList<string>? Labels { get; init; }

    /// <summary>Service conversations: colleagues who follow it.</summary>
    public IReadOnlyList<string>? WatcherIds { get; init; }
}

/// <summary>
/// <c>POST /v1/conversations</c>: <c>{"store_key"}</c> (customer: the open service conversation with that store),
/// <c>{"kind":"direct","user_id"}</c> or <c>{"kind":"group","name","member_ids"}</c> (staff).
/// </summary>
public sealed record CreateConversationRequest(string? StoreKey, string? Kind, string? UserId, string? Name, List<string>? MemberIds, string? QueueId = null);

/// <summary><c>POST /v1/conversations/{id}/members</c> (group; managers and the group's creator).</summary>
public sealed record AddMembersRequest(List<string>? UserIds);

/// <summary>A stored upload: <c>POST /v1/attachments</c> answers this.</summary>
public sealed record AttachmentDto(string Id, string Name, string ContentType, long Size, string Sha256);

/// <summary>The receipt watermarks of one member of a conversation.</summary>
public sealed record ReceiptDto(string ConversationId, string UserId, long ReadSeq, long DeliveredSeq);

/// <summary><c>POST /v1/conversations/{id}/read</c> and <c>…/delivered</c>: the watermark only moves forward.</summary>
public sealed record WatermarkRequest(long? Seq);

/// <summary>A staff member's presence: <c>online</c>, <c>away</c> or <c>offline</c>.</summary>
public sealed record PresenceDto(string UserId, string Status);

/// <summary><c>GET /v1/stores/by-key/{store_key}/presence</c>: whether anyone of the store's staff is online now.</summary>
public sealed record StorePresenceDto(string StoreKey, bool Online);

/// <summary>The message kinds.</summary>
public static class MessageKinds
{
    /// <summary><c>{"text"}</c></summary>
    public const string Text = "text";
    /// <summary><c>{"attachment_id"}</c></summary>
    public const string Image = "image";
    /// <summary><c>{"attachment_id","duration_ms"}</c></summary>
    public const string Voice = "voice";
    /// <summary><c>{"attachment_id"}</c></summary>
    public const string Video = "video";
    /// <summary><c>{"attachment_id"}</c></summary>
    public const string File = "file";
    /// <summary><c>{"latitude","longitude","label"?}</c></summary>
    public const string Location = "location";
    /// <summary>Written by the server only.</summary>
    public const string Card = "card";
    /// <summary>Written by the server only.</summary>
    public const string System = "system";
    /// <summary>A call's summary, written by the server only when the call ends: <c>{"call_id","media","result","duration_ms","started_at","participant_ids"}</c>.</summary>
    public const string Call = "call";
}
