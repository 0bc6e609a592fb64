using System.Buffers;
using System.Globalization;
using System.Text.Json;
using StoreLink.Protocol;

namespace StoreLink.Server.Realtime;

/// <summary>The server's WebSocket frames (PROTOCOL.md "WebSocket"), serialized once per event.</summary>
public static class Frames
{
    public static byte[] Serialize<T>(T frame) => JsonSerializer.SerializeToUtf8Bytes(frame, ProtocolJson.Options);

    /// <summary>
    /// A message as JSON, byte for byte what <see cref="Serialize{T}"/> writes for it, but written by hand: every
    /// message is written once per send and spliced into both its push (<see cref="MessagePush"/>) and the sender's
    /// answer (<see cref="SendOk"/>), and the reflection-driven serializer cost several times as much.
    /// </summary>
    public static byte[] MessageJson(MessageDto message) => Write(message, static (w, m) =>
    {
        w.WriteStartObject();
        w.WriteString("id", m.Id);
        w.WriteString("conversation_id", m.ConversationId);
        w.WriteNumber("seq", m.Seq);
        if (m.ClientMsgId is not null)
            w.WriteString("client_msg_id", m.ClientMsgId);
        w.WriteStartObject("sender");
        w.WriteString("id", m.Sender.Id);
        w.WriteString("kind", m.Sender.Kind);
        w.WriteString("name", m.Sender.Name);
        w.WriteEndObject();
        w.WriteString("kind", m.Kind);
        if (m.Body is { } body)
        {
            w.WritePropertyName("body");
            body.WriteTo(w);
        }
        w.WritePropertyName("created_at");
        Time(w, m.CreatedAt);
        w.WriteBoolean("recalled", m.Recalled);
        w.WriteEndObject();
    });

    /// <summary><c>{"type":"message","message":…}</c> around a message's JSON (<see cref="MessageJson"/>).</summary>
    public static byte[] MessagePush(byte[] messageJson) => [.. "{\"type\":\"message\",\"message\":"u8, .. messageJson, (byte)'}'];

    /// <summary>The answer to a <c>send</c>: <c>{"type":"ok","rid",…,"message":…}</c> around the message's JSON.</summary>
    public static byte[] SendOk(string? rid, byte[] messageJson) => Write((rid, messageJson), static (w, state) =>
    {
        w.WriteStartObject();
        w.WriteString("type", "ok");
        if (state.rid is not null)
            w.WriteString("rid", state.rid);
        w.WritePropertyName("message");
        w.WriteRawValue(state.messageJson, skipInputValidation: true);
        w.WriteEndObject();
    });

    public static RealtimeEvent MessageEvent(byte[] messageJson, Audience audience, string? exceptConnectionId) =>
        new(RealtimeEventKind.Push, audience, MessagePush(messageJson), exceptConnectionId);

    /// <summary>As <see cref="ProtocolJson.UtcTimeConverter"/> writes it, without the string in between.</summary>
    private static void Time(Utf8JsonWriter w, DateTimeOffset value)
    {
        Span<byte> text = stackalloc byte[32];
        value.UtcDateTime.TryFormat(text, out var length, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        w.WriteStringValue(text[..length]);
    }

    // One buffer and writer per thread: frames are written on many threads at once, each completely before the next.
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    private static byte[] Write<TState>(TState state, Action<Utf8JsonWriter, TState> write)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        var writer = t_writer ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = ProtocolJson.Options.Encoder, SkipValidation = true });
        writer.Reset(buffer);
        write(writer, state);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

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
