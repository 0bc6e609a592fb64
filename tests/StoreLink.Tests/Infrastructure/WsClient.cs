using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace StoreLink.Tests.Infrastructure;

/// <summary>
/// A raw protocol client for tests: sends frames as JSON, answers requests by <c>rid</c>, and keeps every pushed
/// frame in arrival order for the test to wait on.
/// </summary>
public sealed class WsClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    private readonly Channel<JsonElement> _events = Channel.CreateUnbounded<JsonElement>();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly TaskCompletionSource<(int? Code, string? Reason)> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private Task? _reader;
    private int _rid;

    private WsClient(ClientWebSocket socket) => _socket = socket;

    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    public static async Task<WsClient> ConnectAsync(Uri server, string? origin = null, bool read = true)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(5);
        if (origin is not null)
            socket.Options.SetRequestHeader("Origin", origin);
        var uri = new UriBuilder(server) { Scheme = server.Scheme == "https" ? "wss" : "ws", Path = "/v1/ws" }.Uri;
        using var cts = new CancellationTokenSource(Timeout);
        await socket.ConnectAsync(uri, cts.Token);
        var client = new WsClient(socket);
        if (read)
            client._reader = client.ReadAsync();
        return client;
    }

    /// <summary>Sends the auth frame and answers the server's first frame (ready).</summary>
    public async Task<JsonElement> AuthAsync(string token)
    {
        await SendRawAsync(JsonSerializer.Serialize(new { type = "auth", token }));
        return await NextAsync(_ => true);
    }

    public async Task SendRawAsync(string text) => await SendBytesAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    public async Task SendBytesAsync(byte[] bytes, WebSocketMessageType type = WebSocketMessageType.Text)
    {
        await _sendLock.WaitAsync();
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            await _socket.SendAsync(bytes, type, true, cts.Token);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Sends a request frame with a fresh rid and waits for its ok or error.</summary>
    public async Task<JsonElement> RequestAsync(object frame)
    {
        var rid = $"r{Interlocked.Increment(ref _rid)}";
        var json = JsonSerializer.SerializeToNode(frame)!.AsObject();
        json["rid"] = rid;
        var done = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[rid] = done;
        await SendRawAsync(json.ToJsonString());
        return await done.Task.WaitAsync(Timeout);
    }

    public Task<JsonElement> SendMessageAsync(string conversationId, string text, string? clientMsgId = null) =>
        RequestAsync(new { type = "send", conversation_id = conversationId, client_msg_id = clientMsgId ?? Guid.NewGuid().ToString("N"), kind = "text", body = new { text } });

    /// <summary>The next pushed frame (not an answer to a request) that matches, skipping others.</summary>
    public async Task<JsonElement> NextAsync(Func<JsonElement, bool> match, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeout);
        while (true)
        {
            var frame = await _events.Reader.ReadAsync(cts.Token);
            if (match(frame))
                return frame;
        }
    }

    public Task<JsonElement> NextOfTypeAsync(string type, TimeSpan? timeout = null) =>
        NextAsync(f => f.GetProperty("type").GetString() == type, timeout);

    /// <summary>Pushed frames that arrived so far and were not taken.</summary>
    public List<JsonElement> Drain()
    {
        var frames = new List<JsonElement>();
        while (_events.Reader.TryRead(out var frame))
            frames.Add(frame);
        return frames;
    }

    /// <summary>Whether no matching frame arrives within the time.</summary>
    public async Task<bool> NothingAsync(Func<JsonElement, bool> match, TimeSpan within)
    {
        try
        {
            await NextAsync(match, within);
            return false;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
    }

    /// <summary>The close code the server sent (null when the socket just dropped).</summary>
    public Task<(int? Code, string? Reason)> ClosedAsync(TimeSpan? timeout = null) => _closed.Task.WaitAsync(timeout ?? Timeout);

    public WebSocketState State => _socket.State;

    private async Task ReadAsync()
    {
        var buffer = new byte[1024 * 1024];
        try
        {
            while (true)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await _socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                    length += result.Count;
                } while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    _closed.TrySetResult(((int?)_socket.CloseStatus, _socket.CloseStatusDescription));
                    try
                    {
                        await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
                    }
                    catch (WebSocketException)
                    {
                    }
                    break;
                }
                var frame = JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone();
                var type = frame.GetProperty("type").GetString();
                if (type is "ok" or "error" && frame.TryGetProperty("rid", out var rid) && _pending.TryRemove(rid.GetString()!, out var waiter))
                    waiter.TrySetResult(frame);
                else
                    _events.Writer.TryWrite(frame);
            }
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            _closed.TrySetResult((null, e.Message));
        }
        _events.Writer.TryComplete();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", cts.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
        if (_reader is not null)
            await Task.WhenAny(_reader, Task.Delay(2000));
        _socket.Dispose();
    }
}
