using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using StoreLink.Protocol;

namespace StoreLink.Client;

/// <summary>
/// A live connection to <c>/v1/ws</c> that survives a weak network: it reconnects with backoff, catches up with
/// <c>sync</c> (and REST history for any gap), and hands the application every message once, in seq order per
/// conversation. <see cref="SendAsync"/> retries with the same <c>client_msg_id</c> until the server acknowledges,
/// so a message is stored exactly once however often the network fails.
/// </summary>
public sealed class RealtimeConnection : IAsyncDisposable
{
    private readonly StoreLinkClient _rest;
    private readonly RealtimeOptions _options;
    private readonly Channel<RealtimeEvent> _events = Channel.CreateUnbounded<RealtimeEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<string, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly Dictionary<string, long> _positions;
    private readonly SemaphoreSlim _order = new(1, 1);
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _disposed = new();
    private TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ClientWebSocket? _socket;
    private Task? _loop;
    private bool _baselined;
    private long _rid;

    private RealtimeConnection(StoreLinkClient rest, RealtimeOptions options)
    {
        _rest = rest;
        _options = options;
        _positions = new Dictionary<string, long>(options.Positions);
    }

    /// <summary>The current state.</summary>
    public ConnectionState State { get; private set; } = ConnectionState.Connecting;

    /// <summary>
    /// When the token of the connection runs out (from <c>ready</c>, or the last <see cref="ReauthenticateAsync"/>):
    /// the server then closes the socket with 4001, which ends this connection for good.
    /// </summary>
    public DateTimeOffset? ExpiresAt { get; private set; }

    /// <summary>Connects with the client's token and returns once authenticated and caught up.</summary>
    public static async Task<RealtimeConnection> ConnectAsync(StoreLinkClient rest, RealtimeOptions? options = null, CancellationToken ct = default)
    {
        if (rest.AccessToken is null)
            throw new InvalidOperationException("Sign in first: the connection authenticates with the client's access token.");
        var connection = new RealtimeConnection(rest, options ?? new RealtimeOptions());
        connection._loop = connection.RunAsync();
        await connection._connected.Task.WaitAsync(ct);
        return connection;
    }

    /// <summary>Every event, in order; ends when the connection is closed for good.</summary>
    public async IAsyncEnumerable<RealtimeEvent> Events([EnumeratorCancellation] CancellationToken ct = default)
    {
        await foreach (var e in _events.Reader.ReadAllAsync(ct))
            yield return e;
    }

    /// <summary>The last seq delivered per conversation (to persist and pass back in <see cref="RealtimeOptions.Positions"/>).</summary>
    public IReadOnlyDictionary<string, long> Positions
    {
        get
        {
            lock (_positions)
                return new Dictionary<string, long>(_positions);
        }
    }

    /// <summary>
    /// Sends a message and returns it once stored. Retries through disconnects with the same client id; throws
    /// <see cref="StoreLinkException"/> only for answers that a retry cannot change (not found, invalid, too large…).
    /// </summary>
    public async Task<MessageDto> SendAsync(string conversationId, string kind, object body, string? clientMsgId = null, CancellationToken ct = default)
    {
        clientMsgId ??= Guid.NewGuid().ToString("N");
        var answer = await RequestAsync(new JsonObject
        {
            ["type"] = "send", ["conversation_id"] = conversationId, ["client_msg_id"] = clientMsgId, ["kind"] = kind,
            ["body"] = JsonSerializer.SerializeToNode(body, body.GetType(), ProtocolJson.Options),
        }, ct);
        var message = answer.GetProperty("message").Deserialize<MessageDto>(ProtocolJson.Options)!;
        await DeliverAsync(message, own: true);
        return message;
    }

    /// <summary>Sends a text message.</summary>
    public Task<MessageDto> SendTextAsync(string conversationId, string text, string? clientMsgId = null, CancellationToken ct = default) =>
        SendAsync(conversationId, MessageKinds.Text, new { text }, clientMsgId, ct);

    /// <summary>Moves the read watermark (never back).</summary>
    public Task MarkReadAsync(string conversationId, long seq, CancellationToken ct = default) =>
        RequestAsync(new JsonObject { ["type"] = "read", ["conversation_id"] = conversationId, ["seq"] = seq }, ct);

    /// <summary>Moves the delivered watermark (never back).</summary>
    public Task MarkDeliveredAsync(string conversationId, long seq, CancellationToken ct = default) =>
        RequestAsync(new JsonObject { ["type"] = "delivered", ["conversation_id"] = conversationId, ["seq"] = seq }, ct);

    /// <summary>Recalls a message (sender within the window, or a store manager).</summary>
    public Task RecallAsync(string messageId, CancellationToken ct = default) =>
        RequestAsync(new JsonObject { ["type"] = "recall", ["message_id"] = messageId }, ct);

    /// <summary>Tells the others of the conversation that this user is typing (best effort, no answer).</summary>
    public async Task TypingAsync(string conversationId, CancellationToken ct = default)
    {
        if (State == ConnectionState.Connected && _socket is { } socket)
            await SendFrameAsync(socket, new JsonObject { ["type"] = "typing", ["conversation_id"] = conversationId }, ct);
    }

    /// <summary>
    /// Relays a WebRTC signal (<c>{"type":"offer"|"answer","sdp"}</c>, <c>{"type":"candidate",…}</c>, <c>{"type":"restart"}</c>,
    /// <c>{"type":"media","audio","video"}</c>; at most 32 KiB) to participant <paramref name="to"/> of a call this user
    /// joined. Returns once the server handed it on; throws <see cref="StoreLinkException"/> (<c>not_found</c>,
    /// <c>conflict</c> for an ended call, <c>rate_limited</c>) otherwise.
    /// </summary>
    public Task SendCallSignalAsync(string callId, string to, string? toDevice, object signal, CancellationToken ct = default) =>
        RequestAsync(new JsonObject
        {
            ["type"] = "call_signal", ["call_id"] = callId, ["to"] = to, ["to_device"] = toDevice,
            ["signal"] = JsonSerializer.SerializeToNode(signal, signal.GetType(), ProtocolJson.Options),
        }, ct);

    /// <summary>
    /// Hands the open connection a new access token of the same user before the current one runs out; the socket then
    /// lives until the new token's expiry, and later reconnects use it. Throws <see cref="StoreLinkException"/>
    /// (<c>unauthorized</c>, <c>forbidden</c>) for a token the server refuses; the connection keeps its old token then.
    /// </summary>
    public async Task<DateTimeOffset?> ReauthenticateAsync(string accessToken, CancellationToken ct = default)
    {
        var answer = await RequestAsync(new JsonObject { ["type"] = "auth", ["token"] = accessToken }, ct);
        _rest.UseToken(accessToken);
        return ExpiresAt = ExpiryOf(answer);
    }

    private static DateTimeOffset? ExpiryOf(JsonElement frame) =>
        frame.TryGetProperty("expires_at", out var expires) && expires.ValueKind == JsonValueKind.String ? expires.GetDateTimeOffset() : null;

    private async Task<JsonElement> RequestAsync(JsonObject frame, CancellationToken ct)
    {
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (State == ConnectionState.Closed)
                throw new StoreLinkException(ErrorCodes.Unauthorized, 0, "The connection is closed.");
            await _connected.Task.WaitAsync(ct);
            var socket = _socket;
            if (socket is null)
                continue;
            var rid = $"r{Interlocked.Increment(ref _rid)}";
            frame["rid"] = rid;
            var answer = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending[rid] = answer;
            try
            {
                await SendFrameAsync(socket, frame, ct);
                var result = await answer.Task.WaitAsync(_options.RequestTimeout, ct);
                if (result.GetProperty("type").GetString() == "ok")
                    return result;
                var code = result.GetProperty("code").GetString()!;
                // The server could not answer now: the same request again later does no harm.
                if (code is not (ErrorCodes.Unavailable or ErrorCodes.Internal or ErrorCodes.RateLimited))
                    throw new StoreLinkException(code, 0, result.TryGetProperty("message", out var m) ? m.GetString() ?? code : code);
            }
            catch (Exception e) when (e is TimeoutException or WebSocketException or ObjectDisposedException or ConnectionLostException)
            {
            }
            finally
            {
                _pending.TryRemove(rid, out _);
            }
            await Task.Delay(_options.MinBackoff, ct);
        }
    }

    private async Task SendFrameAsync(ClientWebSocket socket, JsonObject frame, CancellationToken ct)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(frame, ProtocolJson.Options);
        await _sendLock.WaitAsync(ct);
        try
        {
            await socket.SendAsync(bytes, WebSocketMessageType.Text, true, ct);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task RunAsync()
    {
        var backoff = _options.MinBackoff;
        while (!_disposed.IsCancellationRequested)
        {
            int? closeCode = null;
            string? reason = null;
            try
            {
                using var socket = new ClientWebSocket();
                var uri = new UriBuilder(_rest.BaseAddress) { Scheme = _rest.BaseAddress.Scheme == "https" ? "wss" : "ws", Path = "/v1/ws" }.Uri;
                await socket.ConnectAsync(uri, _disposed.Token);
                await SendFrameAsync(socket, new JsonObject { ["type"] = "auth", ["token"] = _rest.AccessToken }, _disposed.Token);
                var reader = ReadAsync(socket);
                var ready = await reader.FirstAsync;
                if (ready is null)
                {
                    (closeCode, reason) = ((int?)socket.CloseStatus, socket.CloseStatusDescription);
                    await reader.Done;
                }
                else
                {
                    _socket = socket;
                    ExpiresAt = ExpiryOf(ready.Value);
                    await SyncAsync(socket);
                    backoff = _options.MinBackoff;
                    SetState(ConnectionState.Connected, null, null);
                    _connected.TrySetResult();
                    await reader.Done;
                    (closeCode, reason) = ((int?)socket.CloseStatus, socket.CloseStatusDescription);
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or TimeoutException or ConnectionLostException or HttpRequestException or StoreLinkException)
            {
                reason = e.Message;
            }
            finally
            {
                _socket = null;
                if (_connected.Task.IsCompleted)
                    _connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                foreach (var waiter in _pending.Values)
                    waiter.TrySetException(new ConnectionLostException());
            }
            if (_disposed.IsCancellationRequested || closeCode is 4001 or 4008)
            {
                SetState(ConnectionState.Closed, closeCode, reason);
                _connected.TrySetException(new StoreLinkException(ErrorCodes.Unauthorized, 0, reason ?? "The connection was closed."));
                _events.Writer.TryComplete();
                return;
            }
            SetState(ConnectionState.Reconnecting, closeCode, reason);
            var jitter = Random.Shared.NextDouble() * 0.5 + 0.75;
            try
            {
                await Task.Delay(backoff * jitter, _disposed.Token);
            }
            catch (OperationCanceledException)
            {
            }
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.MaxBackoff.Ticks));
        }
        SetState(ConnectionState.Closed, null, "disposed");
        _events.Writer.TryComplete();
    }

    private void SetState(ConnectionState state, int? code, string? reason)
    {
        if (State == state && state == ConnectionState.Connected)
            return;
        State = state;
        _events.Writer.TryWrite(new ConnectionChanged(state, code, reason));
    }

    /// <summary>Asks for everything after the known positions; new conversations after the first sync are fetched whole.</summary>
    private async Task SyncAsync(ClientWebSocket socket)
    {
        var rid = $"r{Interlocked.Increment(ref _rid)}";
        var answer = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[rid] = answer;
        var positions = new JsonObject();
        foreach (var (id, seq) in Positions)
            positions[id] = seq;
        await SendFrameAsync(socket, new JsonObject { ["type"] = "sync", ["rid"] = rid, ["positions"] = positions }, _disposed.Token);
        var ok = await answer.Task.WaitAsync(_options.RequestTimeout, _disposed.Token);
        foreach (var conversation in ok.GetProperty("conversations").EnumerateArray())
        {
            var id = conversation.GetProperty("id").GetString()!;
            var lastSeq = conversation.GetProperty("last_seq").GetInt64();
            bool known;
            lock (_positions)
                known = _positions.ContainsKey(id);
            if (known)
                await FillGapAsync(id, lastSeq + 1);
            else if (!_baselined)
                lock (_positions)
                    _positions[id] = lastSeq; // the first time: follow from now on; history is the app's to fetch
            else
                await FillGapAsync(id, lastSeq + 1, fromStart: true);
        }
        _baselined = true;
    }

    private sealed class Reader
    {
        public required Task<JsonElement?> FirstAsync { get; init; }
        public required Task Done { get; init; }
    }

    private Reader ReadAsync(ClientWebSocket socket)
    {
        var first = new TaskCompletionSource<JsonElement?>(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task Loop()
        {
            var buffer = new byte[256 * 1024];
            try
            {
                while (true)
                {
                    var length = 0;
                    ValueWebSocketReceiveResult result;
                    do
                    {
                        if (length == buffer.Length)
                            Array.Resize(ref buffer, buffer.Length * 2);
                        result = await socket.ReceiveAsync(buffer.AsMemory(length), _disposed.Token);
                        length += result.Count;
                    } while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        try
                        {
                            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
                        }
                        catch (WebSocketException)
                        {
                        }
                        return;
                    }
                    var frame = JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone();
                    if (!first.Task.IsCompleted)
                    {
                        first.TrySetResult(frame);
                        continue;
                    }
                    await HandleAsync(frame);
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or JsonException)
            {
            }
            finally
            {
                first.TrySetResult(null);
                // Whoever waits for an answer on this socket will not get one: let them retry on the next.
                foreach (var waiter in _pending.Values)
                    waiter.TrySetException(new ConnectionLostException());
            }
        }
        return new Reader { FirstAsync = first.Task, Done = Loop() };
    }

    private async Task HandleAsync(JsonElement frame)
    {
        switch (frame.GetProperty("type").GetString())
        {
            case "ok" or "error" when frame.TryGetProperty("rid", out var rid) && rid.GetString() is { } id && _pending.TryRemove(id, out var waiter):
                waiter.TrySetResult(frame);
                break;
            case "message":
                await DeliverAsync(frame.GetProperty("message").Deserialize<MessageDto>(ProtocolJson.Options)!, own: false);
                break;
            case "message_recalled":
                _events.Writer.TryWrite(new MessageRecalled(frame.GetProperty("conversation_id").GetString()!, frame.GetProperty("message_id").GetString()!, frame.GetProperty("seq").GetInt64()));
                break;
            case "receipt":
                _events.Writer.TryWrite(new ReceiptUpdated(new ReceiptDto(frame.GetProperty("conversation_id").GetString()!, frame.GetProperty("user_id").GetString()!,
                    frame.GetProperty("read_seq").GetInt64(), frame.GetProperty("delivered_seq").GetInt64())));
                break;
            case "typing":
                _events.Writer.TryWrite(new TypingStarted(frame.GetProperty("conversation_id").GetString()!, frame.GetProperty("user_id").GetString()!));
                break;
            case "conversation":
                _events.Writer.TryWrite(new ConversationChanged(frame.GetProperty("conversation").Deserialize<ConversationDto>(ProtocolJson.Options)!));
                break;
            case "call":
                _events.Writer.TryWrite(new CallChanged(frame.GetProperty("call").Deserialize<CallDto>(ProtocolJson.Options)!));
                break;
            case "call_signal":
                _events.Writer.TryWrite(new CallSignalReceived(frame.Deserialize<CallSignalDto>(ProtocolJson.Options)!));
                break;
            case "presence":
                _events.Writer.TryWrite(new PresenceChanged(new PresenceDto(frame.GetProperty("user_id").GetString()!, frame.GetProperty("status").GetString()!)));
                break;
        }
    }

    /// <summary>Delivers a message in seq order: a repeat is dropped, a gap is filled from REST history first.</summary>
    private async Task DeliverAsync(MessageDto message, bool own)
    {
        await _order.WaitAsync();
        try
        {
            long last;
            lock (_positions)
                last = _positions.TryGetValue(message.ConversationId, out var p) ? p : message.Seq - 1;
            if (message.Seq <= last)
                return;
            if (message.Seq > last + 1)
                await FillGapLockedAsync(message.ConversationId, message.Seq, fromStart: false);
            Emit(message, own);
        }
        finally
        {
            _order.Release();
        }
    }

    private async Task FillGapAsync(string conversationId, long upTo, bool fromStart = false)
    {
        await _order.WaitAsync();
        try
        {
            await FillGapLockedAsync(conversationId, upTo, fromStart);
        }
        finally
        {
            _order.Release();
        }
    }

    /// <summary>Fetches and delivers every message before <paramref name="upTo"/> that was not delivered yet.</summary>
    private async Task FillGapLockedAsync(string conversationId, long upTo, bool fromStart)
    {
        long after;
        lock (_positions)
            after = fromStart ? 0 : _positions.GetValueOrDefault(conversationId);
        while (after + 1 < upTo)
        {
            var page = await _rest.GetMessagesAsync(conversationId, afterSeq: after, limit: 200, _disposed.Token);
            if (page.Count == 0)
                break;
            foreach (var missed in page.Where(m => m.Seq < upTo))
                Emit(missed, own: false);
            after = page[^1].Seq;
        }
    }

    private void Emit(MessageDto message, bool own)
    {
        lock (_positions)
        {
            if (_positions.TryGetValue(message.ConversationId, out var last) && message.Seq <= last)
                return;
            _positions[message.ConversationId] = message.Seq;
        }
        _events.Writer.TryWrite(new MessageReceived(message, own));
    }

    /// <summary>Closes the connection for good.</summary>
    public async ValueTask DisposeAsync()
    {
        _disposed.Cancel();
        if (_socket is { State: WebSocketState.Open } socket)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", timeout.Token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }
        if (_loop is not null)
            await _loop;
        _disposed.Dispose();
    }

    private sealed class ConnectionLostException() : Exception("The connection was lost.");
}
