using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace StoreLink.Bench;

/// <summary>The members of a server frame the bench looks at; <c>seq</c> and <c>client_msg_id</c> come from its <c>message</c>.</summary>
public readonly record struct FrameInfo(string? Type, string? Rid, long Seq, string? ClientMsgId, string? Code, string? Text);

/// <summary>Client side of the wire: opening an authenticated socket, reading whole frames, picking frames apart cheaply.</summary>
public static class Wire
{
    private static long _framesBeforeReady;

    /// <summary>Frames that arrived on a new socket before its <c>ready</c> (the protocol says ready comes first).</summary>
    public static long FramesBeforeReady => Interlocked.Read(ref _framesBeforeReady);

    /// <summary>
    /// Reads the few members the bench needs with a forward-only reader, skipping every other object
    /// (<c>user</c>, <c>sender</c>, <c>body</c>, <c>conversation</c>), so the bench spends little CPU per frame.
    /// </summary>
    public static FrameInfo Parse(ReadOnlySpan<byte> frame)
    {
        string? type = null, rid = null, clientMsgId = null, code = null, text = null;
        long seq = -1;
        var reader = new Utf8JsonReader(frame);
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName)
                    continue;
                if (reader.CurrentDepth == 1)
                {
                    if (reader.ValueTextEquals("type"u8))
                        type = NextString(ref reader);
                    else if (reader.ValueTextEquals("rid"u8))
                        rid = NextString(ref reader);
                    else if (reader.ValueTextEquals("code"u8))
                        code = NextString(ref reader);
                    else if (reader.ValueTextEquals("message"u8))
                    {
                        reader.Read();
                        // An error's message is text; an ok's or a push's is the message object, read below at depth 2.
                        if (reader.TokenType == JsonTokenType.String)
                            text = reader.GetString();
                    }
                    else
                    {
                        reader.Read();
                        reader.Skip();
                    }
                }
                else if (reader.CurrentDepth == 2)
                {
                    // Only the message object is entered; every other object was skipped whole.
                    if (reader.ValueTextEquals("seq"u8))
                    {
                        reader.Read();
                        seq = reader.TokenType == JsonTokenType.Number ? reader.GetInt64() : -1;
                    }
                    else if (reader.ValueTextEquals("client_msg_id"u8))
                        clientMsgId = NextString(ref reader);
                    else
                    {
                        reader.Read();
                        reader.Skip();
                    }
                }
            }
        }
        catch (JsonException)
        {
            type ??= "(not json)";
        }
        return new FrameInfo(type, rid, seq, clientMsgId, code, text);
    }

    private static string? NextString(ref Utf8JsonReader reader)
    {
        reader.Read();
        return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
    }

    /// <summary>One whole frame into the buffer (grown when needed); null when the peer closed.</summary>
    public static async ValueTask<(byte[] Buffer, int Length)?> ReceiveAsync(WebSocket socket, byte[] buffer, CancellationToken ct)
    {
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
                Array.Resize(ref buffer, buffer.Length * 2);
            var result = await socket.ReceiveAsync(buffer.AsMemory(length), ct);
            if (result.MessageType == WebSocketMessageType.Close)
                return null;
            length += result.Count;
            if (result.EndOfMessage)
                return (buffer, length);
        }
    }

    /// <summary>Opens <c>/v1/ws</c>, sends the auth frame and waits for <c>ready</c>.</summary>
    public static async Task<ClientWebSocket> ConnectAsync(Uri ws, string token, HttpMessageInvoker invoker, int bufferBytes, CancellationToken ct)
    {
        var socket = new ClientWebSocket();
        // The server's pings are the heartbeat; the client's own keep-alive frames would only add load.
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        socket.Options.SetBuffer(bufferBytes, bufferBytes);
        try
        {
            await socket.ConnectAsync(ws, invoker, ct);
            var auth = JsonSerializer.SerializeToUtf8Bytes(new { type = "auth", token });
            await socket.SendAsync(auth, WebSocketMessageType.Text, endOfMessage: true, ct);
            var buffer = new byte[Math.Max(bufferBytes, 1024)];
            for (var skipped = 0; ; skipped++)
            {
                var frame = await ReceiveAsync(socket, buffer, ct);
                if (frame is null)
                    throw new SetupException($"The server closed the socket instead of answering auth: {socket.CloseStatus} {socket.CloseStatusDescription}");
                buffer = frame.Value.Buffer;
                var type = Parse(buffer.AsSpan(0, frame.Value.Length)).Type;
                if (type == "ready")
                    break;
                // A push can reach a socket that registered a moment before its ready frame was queued; it is
                // counted (the protocol puts ready first) and the bench waits on for ready.
                if (type is "error" || skipped == 100)
                    throw new SetupException($"Expected ready, got: {Encoding.UTF8.GetString(buffer, 0, frame.Value.Length)}");
                Interlocked.Increment(ref _framesBeforeReady);
            }
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Starts the close handshake; the socket's receive loop sees the server's answer and ends.</summary>
    public static async Task CloseOutputAsync(WebSocket socket, TimeSpan wait)
    {
        try
        {
            using var timeout = new CancellationTokenSource(wait);
            if (socket.State == WebSocketState.Open)
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bench done", timeout.Token);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            socket.Abort();
        }
    }
}
