using System.Text.Json;
using StoreLink.Protocol;

namespace StoreLink.Server.Realtime;

/// <summary>The server's WebSocket frames (PROTOCOL.md "WebSocket"), serialized once per event.</summary>
public static class Frames
{
    public static byte[] Serialize<T>(T frame) => JsonSerializer.SerializeToUtf8Bytes(frame, ProtocolJson.Options);

    public static RealtimeEvent MessageEvent(MessageDto message, Audience audience, string? exceptConnectionId) =>
        new(RealtimeEventKind.Push, audience, Serialize(new { type = "message", message }), exceptConnectionId);

    public static RealtimeEvent ConversationEvent(ConversationDto conversation, Audience audience) =>
        new(RealtimeEventKind.Push, audience, Serialize(new { type = "conversation", conversation }));

    public static RealtimeEvent ReceiptEvent(ReceiptDto receipt, Audience audience, string? exceptConnectionId) =>
        new(RealtimeEventKind.Push, audience, Serialize(new
        {
            type = "receipt", conversation_id = receipt.ConversationId, user_id = receipt.UserId,
            read_seq = receipt.ReadSeq, delivered_seq = receipt.DeliveredSeq,
        }), exceptConnectionId);

    public static RealtimeEvent RecalledEvent(string conversationId, string messageId, long seq, Audience audience) =>
        new(RealtimeEventKind.Push, audience, Serialize(new { type = "message_recalled", conversation_id = conversationId, message_id = messageId, seq }));

    public static RealtimeEvent TypingEvent(string conversationId, string userId, Audience audience, string exceptConnectionId) =>
        new(RealtimeEventKind.Push, audience, Serialize(new { type = "typing", conversation_id = conversationId, user_id = userId }), exceptConnectionId);

    public static RealtimeEvent PresenceEvent(string userId, string status, Audience audience) =>
        new(RealtimeEventKind.Push, audience, Serialize(new { type = "presence", user_id = userId, status }));

    public static byte[] Ok(string rid) => Serialize(new { type = "ok", rid });

    public static byte[] Error(string? rid, string code, string message) => Serialize(new { type = "error", rid, code, message });
}
