using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace StoreLink.Bench;

/// <summary>
/// The baseline: the least a WebSocket relay on Kestrel does for the same load. It speaks just enough of the
/// protocol for the bench (auth → ready, send → ok with a seq, the message pushed to the pair's agent, ping) with
/// no storage, no token check and no access rules. Each socket has a bounded outbox drained by its own writer, as
/// in the real gateway, so the difference between the two is what the server does besides moving frames.
/// </summary>
/// <remarks>Tokens name the role and the conversation: <c>relay:customer:c1</c>, <c>relay:agent:c1</c>, <c>relay:idle:7</c>.</remarks>
public static class Relay
{
    public const string TokenPrefix = "relay:";
    private const int OutboxFrames = 2048;
    private const int MaxFrameBytes = 64 * 1024;

    public static WebApplication Build(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        var agents = new ConcurrentDictionary<string, Peer>();
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(30), KeepAliveTimeout = TimeSpan.FromSeconds(30) });
        app.MapGet("/healthz", () => "ok");
        app.Map("/v1/ws", async http =>
        {
            if (!http.WebSockets.IsWebSocketRequest)
            {
                http.Response.StatusCode = 400;
                return;
            }
            using var socket = await http.WebSockets.AcceptWebSocketAsync();
            await ServeAsync(socket, agents, http.RequestAborted);
        });
        return app;
    }

    /// <summary>The child-process entry point: serves until the parent closes our standard input (or dies).</summary>
    public static async Task<int> ServeUntilStdinClosesAsync(int port)
    {
        await using var app = Build(port);
        await app.StartAsync();
        await Task.Run(() => Console.In.ReadToEnd());
        await app.StopAsync();
        return 0;
    }

    private sealed class Peer(WebSocket socket)
    {
        public WebSocket Socket { get; } = socket;
        public Channel<byte[]> Outbox { get; } = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(OutboxFrames)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

        /// <summary>Like the gateway: a push that finds the outbox full drops the connection rather than wait.</summary>
        public void Push(byte[] frame)
        {
            if (!Outbox.Writer.TryWrite(frame))
                Socket.Abort();
        }

        public async Task RunWriterAsync()
        {
            try
            {
                await foreach (var frame in Outbox.Reader.ReadAllAsync())
                    await Socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
            }
            catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
            {
            }
        }
    }

    private static async Task ServeAsync(WebSocket socket, ConcurrentDictionary<string, Peer> agents, CancellationToken aborted)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(MaxFrameBytes);
        var peer = new Peer(socket);
        var writer = peer.RunWriterAsync();
        string? agentOf = null;
        try
        {
            var length = await ReceiveAsync(socket, buffer, aborted);
            var token = length > 0 ? ReadToken(buffer.AsSpan(0, length)) : null;
            if (token is null || !token.StartsWith(TokenPrefix, StringComparison.Ordinal))
            {
                await socket.CloseAsync((WebSocketCloseStatus)4001, "auth first", CancellationToken.None);
                return;
            }
            var parts = token.Split(':', 3);
            var role = parts.Length == 3 ? parts[1] : "idle";
            var key = parts.Length == 3 ? parts[2] : "";
            await peer.Outbox.Writer.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
            {
                ["type"] = "ready",
                ["user"] = new Dictionary<string, string> { ["id"] = token, ["kind"] = role == "agent" ? "staff" : "customer", ["name"] = role, ["org_id"] = "relay" },
                ["connection_id"] = Guid.NewGuid().ToString("N"),
                ["heartbeat_seconds"] = 30,
            }), aborted);
            if (role == "agent")
            {
                agents[key] = peer;
                agentOf = key;
            }
            long seq = 0;
            while ((length = await ReceiveAsync(socket, buffer, aborted)) >= 0)
            {
                using var doc = JsonDocument.Parse(buffer.AsMemory(0, length));
                var root = doc.RootElement;
                var type = Str(root, "type");
                var rid = Str(root, "rid");
                if (type == "send")
                {
                    var conversationId = Str(root, "conversation_id") ?? "";
                    var message = MessageJson(root, conversationId, ++seq, token);
                    if (agents.TryGetValue(conversationId, out var agent))
                        agent.Push(Frame("message", null, message));
                    await peer.Outbox.Writer.WriteAsync(Frame("ok", rid, message), aborted);
                }
                else
                {
                    await peer.Outbox.Writer.WriteAsync(Frame("ok", rid, null), aborted);
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or JsonException or ChannelClosedException)
        {
        }
        finally
        {
            if (agentOf is not null)
                agents.TryRemove(new KeyValuePair<string, Peer>(agentOf, peer));
            peer.Outbox.Writer.TryComplete();
            await writer;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>One whole text frame into the buffer; -1 when the socket closed.</summary>
    private static async Task<int> ReceiveAsync(WebSocket socket, byte[] buffer, CancellationToken ct)
    {
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
                throw new WebSocketException("frame too large");
            var result = await socket.ReceiveAsync(buffer.AsMemory(length), ct);
            if (result.MessageType == WebSocketMessageType.Close)
                return -1;
            length += result.Count;
            if (result.EndOfMessage)
                return length;
        }
    }

    private static string? ReadToken(ReadOnlySpan<byte> frame)
    {
        try
        {
            using var doc = JsonDocument.Parse(frame.ToArray());
            return Str(doc.RootElement, "type") == "auth" ? Str(doc.RootElement, "token") : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>The message object, shaped like the server's, written once and embedded in both frames.</summary>
    private static byte[] MessageJson(JsonElement send, string conversationId, long seq, string sender)
    {
        var output = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(output))
        {
            w.WriteStartObject();
            w.WriteString("id", $"m-{conversationId}-{seq}");
            w.WriteString("conversation_id", conversationId);
            w.WriteNumber("seq", seq);
            w.WriteString("client_msg_id", Str(send, "client_msg_id"));
            w.WriteStartObject("sender");
            w.WriteString("id", sender);
            w.WriteString("kind", "customer");
            w.WriteString("name", "Visitor");
            w.WriteEndObject();
            w.WriteString("kind", Str(send, "kind") ?? "text");
            w.WritePropertyName("body");
            if (send.TryGetProperty("body", out var body))
                body.WriteTo(w);
            else
                w.WriteNullValue();
            w.WriteString("created_at", DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteBoolean("recalled", false);
            w.WriteEndObject();
        }
        return output.WrittenSpan.ToArray();
    }

    private static byte[] Frame(string type, string? rid, byte[]? message)
    {
        var output = new ArrayBufferWriter<byte>(message is null ? 64 : message.Length + 64);
        using (var w = new Utf8JsonWriter(output))
        {
            w.WriteStartObject();
            w.WriteString("type", type);
            if (rid is not null)
                w.WriteString("rid", rid);
            if (message is not null)
            {
                w.WritePropertyName("message");
                w.WriteRawValue(message, skipInputValidation: true);
            }
            w.WriteEndObject();
        }
        return output.WrittenSpan.ToArray();
    }
}
