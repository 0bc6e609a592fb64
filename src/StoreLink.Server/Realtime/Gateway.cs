using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Realtime;

/// <summary>
/// The WebSocket endpoint <c>/v1/ws</c> (PROTOCOL.md "WebSocket"): first-frame authentication, one read loop per
/// connection handling its frames in order, one writer loop per connection, and the node's receiver of bus events.
/// </summary>
public sealed class Gateway
{
    private readonly ConnectionRegistry _registry;
    private readonly Tokens _tokens;
    private readonly MessageActions _messages;
    private readonly ConversationActions _conversations;
    private readonly Access _access;
    private readonly Presence _presence;
    private readonly Calls.CallActions _calls;
    private readonly RealtimeOptions _options;
    private readonly ILogger<Gateway> _logger;
    private readonly CancellationToken _stopping;

    public Gateway(ConnectionRegistry registry, IEventBus bus, Tokens tokens, MessageActions messages, ConversationActions conversations,
        Access access, Presence presence, Calls.CallActions calls, IOptions<RealtimeOptions> options, IHostApplicationLifetime lifetime, ILogger<Gateway> logger)
    {
        _registry = registry;
        _tokens = tokens;
        _messages = messages;
        _conversations = conversations;
        _access = access;
        _presence = presence;
        _calls = calls;
        _options = options.Value;
        _logger = logger;
        _stopping = lifetime.ApplicationStopping;
        bus.Subscribe(OnEventAsync);
        lifetime.ApplicationStopping.Register(() =>
        {
            foreach (var connection in _registry.All)
                connection.Close(CloseCodes.GoingAway, "server going away; reconnect and sync");
        });
    }

    public int HeartbeatSeconds => _options.HeartbeatSeconds;

    /// <summary>Delivers an event to this node's connections. Never waits for a socket.</summary>
    private ValueTask OnEventAsync(RealtimeEvent e)
    {
        switch (e.Kind)
        {
            case RealtimeEventKind.Push:
                foreach (var connection in _registry.Resolve(e.Audience!))
                    if (connection.Id != e.ExceptConnectionId)
                        connection.Push(e.Frame!);
                break;
            case RealtimeEventKind.RevokeToken:
                foreach (var connection in _registry.OfToken(e.TokenHash!))
                    connection.Close(CloseCodes.Unauthorized, "token revoked");
                break;
            case RealtimeEventKind.RevokeUser:
                foreach (var connection in _registry.OfUser(e.UserId!).Where(c => c.User.TokenHash != e.TokenHash))
                    connection.Close(CloseCodes.Unauthorized, "signed out");
                break;
            case RealtimeEventKind.Reconnect:
                foreach (var connection in _registry.OfUser(e.UserId!))
                    connection.Close(CloseCodes.GoingAway, "your access changed; reconnect and sync");
                break;
        }
        return ValueTask.CompletedTask;
    }

    public async Task AcceptAsync(HttpContext http)
    {
        if (!http.WebSockets.IsWebSocketRequest)
            throw ApiException.Invalid("This is the WebSocket endpoint: connect with a WebSocket client.");
        if (!OriginAllowed(http))
            throw ApiException.Forbidden("This origin may not open a socket here; see Realtime:AllowedOrigins.");
        using var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = TimeSpan.FromSeconds(_options.HeartbeatSeconds),
            KeepAliveTimeout = TimeSpan.FromSeconds(_options.HeartbeatSeconds),
        });
        using var buffer = new FrameBuffer(_options.MaxFrameBytes);
        await RunAsync(socket, buffer, Texts.LanguageOf(http.Request), http.RequestAborted);
        if (socket.State == WebSocketState.Aborted)
            await LingerAsync(http.RequestAborted);
    }

    /// <summary>
    /// A socket that failed is torn down when this request ends, and with it whatever it wrote last. When the socket
    /// itself refused a frame (a text frame that is not UTF-8) it has just written its close frame, 1007; torn down at
    /// once, that frame is mostly lost and the client sees a dropped connection instead. So the connection stays up
    /// until the client leaves, two seconds at most.
    /// </summary>
    private async Task LingerAsync(CancellationToken clientGone)
    {
        using var linger = CancellationTokenSource.CreateLinkedTokenSource(clientGone, _stopping);
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(2), linger.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private bool OriginAllowed(HttpContext http)
    {
        string? origin = http.Request.Headers.Origin;
        if (string.IsNullOrEmpty(origin))
            return true; // not a browser: apps, the SDK, scripts
        if (_options.AllowedOrigins.Contains("*") || _options.AllowedOrigins.Contains(origin, StringComparer.OrdinalIgnoreCase))
            return true;
        return Uri.TryCreate(origin, UriKind.Absolute, out var uri) &&
            string.Equals(uri.Authority, http.Request.Host.Value, StringComparison.OrdinalIgnoreCase);
    }

    private async Task RunAsync(WebSocket socket, FrameBuffer buffer, string requestLanguage, CancellationToken aborted)
    {
        var user = await AuthenticateAsync(socket, buffer, requestLanguage, aborted);
        if (user is null)
            return;
        using var connection = new Connection(Ids.New("con"), user, socket, _options.SendQueueFrames, _options.TypingPerSecond);
        // Ready is queued before the connection is registered, so that it is the first frame: a push to the user
        // (another staff member's presence, a message) cannot overtake it. The queue is empty, so this never waits.
        await connection.SendAsync(Frames.Serialize(new
        {
            type = "ready", user = user.ToDto(), connection_id = connection.Id, heartbeat_seconds = _options.HeartbeatSeconds,
            expires_at = user.ExpiresAt,
        }), CancellationToken.None);
        _registry.Add(connection);
        Task? writer = null;
        try
        {
            // The connection counts for presence before ready leaves: a client holding ready is online for everyone
            // (a transfer or a routing decision right after connecting sees it). Pushes meanwhile queue behind ready.
            await Safe(() => _presence.ConnectedAsync(user, CancellationToken.None));
            writer = connection.RunWriterAsync();
            await ReadLoopAsync(connection, socket, buffer, aborted);
        }
        finally
        {
            _registry.Remove(connection);
            connection.Close((int)WebSocketCloseStatus.NormalClosure, "");
            await connection.AnswersSent; // sends still committing end here (their answers go nowhere now)
            if (writer is not null)
                await writer;
            await Safe(() => _presence.DisconnectedAsync(user, CancellationToken.None));
        }
    }

    private async Task<CurrentUser?> AuthenticateAsync(WebSocket socket, FrameBuffer buffer, string requestLanguage, CancellationToken aborted)
    {
        // Cancelling a pending receive would abort the socket without a close frame; race it against the deadline instead.
        var receive = ReceiveAsync(socket, buffer, aborted);
        if (await Task.WhenAny(receive, Task.Delay(TimeSpan.FromSeconds(_options.AuthTimeoutSeconds), _stopping)) != receive)
        {
            await CloseAfterAsync(socket, receive, CloseCodes.Unauthorized, "no auth frame in time");
            return null;
        }
        try
        {
            var (length, status) = await receive;
            if (status is not null)
            {
                await CloseAsync(socket, status.Value, status == CloseCodes.TooLarge ? "frame too large" : "closed");
                return null;
            }
            string? token = null;
            try
            {
                // A binary frame (length -1) is not an auth frame either.
                using var doc = length < 0 ? null : JsonDocument.Parse(buffer.Array.AsMemory(0, length));
                var root = doc?.RootElement ?? default;
                if (root.ValueKind == JsonValueKind.Object && JsonStrings.AreValid(root) && TryString(root, "type") == "auth")
                    token = TryString(root, "token");
            }
            catch (JsonException)
            {
            }
            var user = token is null ? null : await _tokens.AuthenticateAsync(token, requestLanguage, aborted);
            if (user is null or { IsApiClient: true })
            {
                await CloseAsync(socket, CloseCodes.Unauthorized, "the first frame must be {\"type\":\"auth\",\"token\":…} with a valid access token");
                return null;
            }
            return user;
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
            return null;
        }
        catch (DatabaseUnavailableException)
        {
            await CloseAsync(socket, (int)WebSocketCloseStatus.InternalServerError, "try again shortly");
            return null;
        }
    }

    /// <summary>Sends a close frame while a receive is pending, gives the peer a moment to answer, then aborts.</summary>
    private static async Task CloseAfterAsync(WebSocket socket, Task pendingReceive, int code, string reason)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await socket.CloseOutputAsync((WebSocketCloseStatus)code, reason, timeout.Token);
            await pendingReceive.WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or TimeoutException or ObjectDisposedException)
        {
            AbortUnlessFailed(socket);
        }
    }

    /// <summary>
    /// Receives one whole frame into the buffer; a close code instead when the socket closed or the frame is too
    /// large. A binary frame comes back with length -1 (the protocol speaks text frames only).
    /// </summary>
    private async Task<(int Length, int? Close)> ReceiveAsync(WebSocket socket, FrameBuffer buffer, CancellationToken ct)
    {
        var length = 0;
        while (true)
        {
            if (length == buffer.Capacity && !buffer.TryGrow(length))
                return (0, CloseCodes.TooLarge);
            var result = await socket.ReceiveAsync(buffer.Array.AsMemory(length, buffer.Capacity - length), ct);
            if (result.MessageType == WebSocketMessageType.Close)
                return (0, (int)WebSocketCloseStatus.NormalClosure);
            length += result.Count;
            if (result.EndOfMessage)
                return (result.MessageType == WebSocketMessageType.Binary ? -1 : length, null);
        }
    }

    /// <summary>
    /// Handles the client's frames one at a time, in order (so a client's sends keep their order). Ends when the
    /// client closes, the socket fails, or — after the server closed the connection — the socket is aborted.
    /// </summary>
    private async Task ReadLoopAsync(Connection connection, WebSocket socket, FrameBuffer buffer, CancellationToken aborted)
    {
        try
        {
            while (true)
            {
                var (length, close) = await ReceiveAsync(socket, buffer, aborted);
                if (close == CloseCodes.TooLarge)
                {
                    connection.Close(CloseCodes.TooLarge, $"frame larger than {_options.MaxFrameBytes} bytes");
                    return;
                }
                if (close is not null)
                    return;
                if (connection.IsClosing)
                    continue; // draining until the peer answers our close frame
                if (length < 0)
                    await AnswerInTurnAsync(connection, Frames.Error(null, ErrorCodes.InvalidRequest, "Frames are JSON text frames, not binary."), aborted);
                else
                    await HandleFrameAsync(connection, buffer.Array.AsMemory(0, length), aborted);
                buffer.Shrink(); // the frame is handled: nothing refers to the buffer any more
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
    }

    private ValueTask HandleFrameAsync(Connection connection, ReadOnlyMemory<byte> frame, CancellationToken ct)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(frame);
        }
        catch (JsonException)
        {
            return AnswerInTurnAsync(connection, Frames.Error(null, ErrorCodes.InvalidRequest, "The frame is not valid JSON."), ct);
        }
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            return AnswerInTurnAsync(connection, Frames.Error(null, ErrorCodes.InvalidRequest, "A frame is a JSON object."), ct);
        }
        if (!JsonStrings.AreValid(root))
        {
            doc.Dispose();
            return AnswerInTurnAsync(connection, Frames.Error(null, ErrorCodes.InvalidRequest, "The frame has a string that is not valid Unicode text (a lone surrogate escape)."), ct);
        }
        // Typing and viewing are answered by nobody and limited per connection; extra frames are dropped.
        if (TryString(root, "type") is "typing" or "viewing" && !connection.TypingAllowed())
        {
            doc.Dispose();
            return ValueTask.CompletedTask;
        }
        return HandleAsync(connection, doc, ct);
    }

    private async ValueTask HandleAsync(Connection connection, JsonDocument doc, CancellationToken ct)
    {
        using var _ = doc;
        var root = doc.RootElement;
        string? rid = null;
        try
        {
            rid = TryString(root, "rid");
            if (root.TryGetProperty("rid", out var ridElement) && ridElement.ValueKind != JsonValueKind.String)
                throw ApiException.Invalid("rid is a string.");
            var user = connection.User;
            var type = Str(root, "type");
            if (type == "send")
            {
                await PipelineSendAsync(connection, root, rid, ct);
                return;
            }
            // Every other frame is handled after the sends before it are answered, as if they had been handled one by one.
            await connection.AnswersSent;
            switch (type)
            {
                case "sync":
                    await SyncAsync(connection, root, rid, ct);
                    break;
                case "read" or "delivered":
                    var receipt = await _messages.MarkAsync(user, Required(root, "conversation_id"), Long(root, "seq"), type == "read", connection.Id, ct);
                    await connection.SendAsync(Frames.Serialize(new { type = "ok", rid, read_seq = receipt.ReadSeq, delivered_seq = receipt.DeliveredSeq }), ct);
                    break;
                case "recall":
                    var recalled = await _messages.RecallAsync(user, Required(root, "message_id"), ct);
                    await connection.SendAsync(Frames.Serialize(new { type = "ok", rid, message = recalled }), ct);
                    break;
                case "typing":
                    await _messages.TypingAsync(user, Required(root, "conversation_id"), connection.Id, ct);
                    break;
                case "viewing":
                    var active = !root.TryGetProperty("active", out var activeElement) || activeElement.ValueKind != JsonValueKind.False;
                    await _messages.ViewingAsync(user, Required(root, "conversation_id"), active, connection.Id, ct);
                    break;
                case "presence":
                    var presence = await _presence.SetStatusAsync(user, Str(root, "status"), ct);
                    await connection.SendAsync(Frames.Serialize(new { type = "ok", rid, status = presence.Status }), ct);
                    break;
                case "call_signal":
                    if (!connection.SignalAllowed())
                        throw new ApiException(ErrorCodes.RateLimited, $"At most {Connection.SignalsPerSecond} call signals a second.");
                    if (!root.TryGetProperty("signal", out var signal))
                        throw ApiException.Invalid("signal is required.");
                    await _calls.SignalAsync(user, Required(root, "call_id"), Required(root, "to"), Str(root, "to_device"), signal, ct);
                    await connection.SendAsync(Frames.Ok(rid!), ct);
                    break;
                case "ping":
                    await connection.SendAsync(Frames.Ok(rid!), ct);
                    break;
                case "auth":
                    var renewed = await RenewAsync(connection, Str(root, "token"), ct);
                    await connection.SendAsync(Frames.Serialize(new { type = "ok", rid, expires_at = renewed.ExpiresAt }), ct);
                    break;
                default:
                    throw ApiException.Invalid("Unknown frame type: send, sync, read, delivered, recall, typing, viewing, presence, call_signal, ping or auth.");
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await AnswerInTurnAsync(connection, ErrorFrame(connection, rid, e), ct);
        }
    }

    /// <summary>
    /// Re-authentication on the open socket: a new token of the same user moves the connection's deadline to that
    /// token's expiry (and revoking the old token no longer closes it). A token that does not authenticate, or that is
    /// another user's, is refused and the connection keeps the token it holds, until that one runs out.
    /// </summary>
    private async Task<CurrentUser> RenewAsync(Connection connection, string? token, CancellationToken ct)
    {
        var current = connection.User;
        var renewed = string.IsNullOrEmpty(token) ? null : await _tokens.AuthenticateAsync(token, current.Language, ct);
        if (renewed is null or { IsApiClient: true })
            throw ApiException.Unauthorized("The token is unknown, expired or revoked; the connection keeps the token it holds.");
        if (renewed.Id != current.Id || renewed.Kind != current.Kind)
            throw ApiException.Forbidden("The token is another user's; the connection keeps the token it holds.");
        _registry.Renew(connection, renewed);
        return connection.User;
    }

    /// <summary>An answer that must not overtake the answers of the sends before it.</summary>
    private static async ValueTask AnswerInTurnAsync(Connection connection, byte[] frame, CancellationToken ct)
    {
        await connection.AnswersSent;
        await connection.SendAsync(frame, ct);
    }

    /// <summary>
    /// A send is checked and queued for the writer now, in frame order — so a connection's messages are stored in the
    /// order it sent them — but its commit is not waited for: the read loop goes on with the next frame, and the
    /// writer can commit many sends of one connection together. The answers go out in frame order, each after its
    /// commit. At most <see cref="Connection.MaxSendsInFlight"/> sends of a connection wait for their commit; past
    /// that the read loop waits, and so does the client.
    /// </summary>
    private async Task PipelineSendAsync(Connection connection, JsonElement root, string? rid, CancellationToken ct)
    {
        // The slot first: once a send is queued, nothing may stop its answer (and what follows its commit).
        await connection.EnterSendAsync(ct);
        Task<PendingSend> begun;
        try
        {
            // The body is read while the frame's document is alive (BeginSendAsync is awaited below), so it needs no copy.
            var request = new SendMessageRequest(Str(root, "client_msg_id"), Str(root, "kind"),
                root.TryGetProperty("body", out var body) ? body : null);
            // Once accepted, a send completes even if this socket goes away; the ack may then be lost,
            // and the client's retry with the same client_msg_id gets the stored message.
            begun = _messages.BeginSendAsync(connection.User, Required(root, "conversation_id"), request, connection.Id, CancellationToken.None);
            await begun;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            begun = Task.FromException<PendingSend>(e); // answered in its turn, below
        }
        connection.ChainAnswer(previous => AnswerSendAsync(previous, connection, rid, begun));
    }

    private async Task AnswerSendAsync(Task previous, Connection connection, string? rid, Task<PendingSend> begun)
    {
        await previous; // never fails: every answer catches its own
        byte[] answer;
        try
        {
            var sent = await (await begun).CompleteAsync();
            answer = Frames.SendOk(rid, sent.MessageJson ?? Frames.MessageJson(sent.Message));
        }
        catch (Exception e)
        {
            answer = ErrorFrame(connection, rid, e);
        }
        finally
        {
            connection.LeaveSend();
        }
        await connection.SendAsync(answer, CancellationToken.None);
    }

    private byte[] ErrorFrame(Connection connection, string? rid, Exception e)
    {
        switch (e)
        {
            case ApiException api:
                return Frames.Error(rid, api.Code, api.Errors is null ? api.Message : $"{api.Message} {string.Join(" ", api.Errors.Select(x => $"{x.Key}: {string.Join(" ", x.Value)}"))}");
            case Exception when ProblemExceptionHandler.DatabaseTrouble(e) is { } trouble:
                _logger.LogWarning(e, "Database unavailable for a frame on connection {Connection}", connection.Id);
                return Frames.Error(rid, ErrorCodes.Unavailable, Texts.Get(connection.User.Language, trouble));
            default:
                _logger.LogError(e, "Frame failed on connection {Connection}", connection.Id);
                return Frames.Error(rid, ErrorCodes.Internal, "Something went wrong on the server.");
        }
    }

    /// <summary>Every message after each given position, in order, then the caller's conversations with their last seq.</summary>
    private async Task SyncAsync(Connection connection, JsonElement root, string? rid, CancellationToken ct)
    {
        var user = connection.User;
        if (root.TryGetProperty("positions", out var positions) && positions.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null))
            throw ApiException.Invalid("positions is an object of conversation id → last seq held.");
        if (positions.ValueKind == JsonValueKind.Object)
        {
            foreach (var position in positions.EnumerateObject().Take(1000))
            {
                if (position.Value.ValueKind != JsonValueKind.Number || !position.Value.TryGetInt64(out var after))
                    throw ApiException.Invalid($"positions.{position.Name} is a number.");
                try
                {
                    await _access.ConversationAsync(user, position.Name, ct);
                }
                catch (ApiException e) when (e.Code == ErrorCodes.NotFound)
                {
                    continue; // gone, or never the caller's: nothing to send
                }
                while (true)
                {
                    var page = await _conversations.HistoryAsync(user, position.Name, after, null, 200, ct);
                    foreach (var message in page)
                        await connection.SendAsync(Frames.MessagePush(Frames.MessageJson(message)), ct);
                    if (page.Count < 200)
                        break;
                    after = page[^1].Seq;
                }
            }
        }
        var conversations = await _conversations.ListAsync(user, 1000, null, null, ct);
        await connection.SendAsync(Frames.Serialize(new
        {
            type = "ok", rid, conversations = conversations.Select(c => new { id = c.Id, last_seq = c.LastSeq, kind = c.Kind }),
        }), ct);
    }

    private static string? TryString(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string? Str(JsonElement root, string name) =>
        !root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind == JsonValueKind.String ? value.GetString()
        : throw ApiException.Invalid($"{name} is a string.");

    private static string Required(JsonElement root, string name) =>
        Str(root, name) is { Length: > 0 } value ? value : throw ApiException.Invalid($"{name} is required.");

    private static long? Long(JsonElement root, string name) =>
        !root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) ? number
        : throw ApiException.Invalid($"{name} is a whole number.");

    private static async Task CloseAsync(WebSocket socket, int code, string reason)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await socket.CloseAsync((WebSocketCloseStatus)code, reason, timeout.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            AbortUnlessFailed(socket);
        }
    }

    /// <summary>
    /// Tears the socket down, unless a receive already failed on it (a part of a frame that is not UTF-8 arrived while
    /// the server waited for the client's close): that failure aborted the socket after its last close frame went out,
    /// and tearing down now would mostly drop that frame unread. <see cref="AcceptAsync"/> lingers instead.
    /// </summary>
    private static void AbortUnlessFailed(WebSocket socket)
    {
        if (socket.State != WebSocketState.Aborted)
            socket.Abort();
    }

    private async Task Safe(Func<Task> work)
    {
        try
        {
            await work();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogWarning(e, "Presence update failed");
        }
    }

    /// <summary>
    /// The receive buffer of one socket: small while its frames are small (most sockets are idle most of the time,
    /// and a buffer of the frame limit for each of 20,000 sockets would be over a gigabyte), grown up to the limit for
    /// a large frame and given back after it.
    /// </summary>
    private sealed class FrameBuffer(int limit) : IDisposable
    {
        private const int Small = 4096;

        public byte[] Array { get; private set; } = ArrayPool<byte>.Shared.Rent(Math.Min(Small, limit));

        /// <summary>How much of <see cref="Array"/> a frame may use (a rented array can be longer than asked for).</summary>
        public int Capacity => Math.Min(Array.Length, limit);

        /// <summary>A larger array with the first <paramref name="length"/> bytes kept; false at the frame limit.</summary>
        public bool TryGrow(int length)
        {
            if (Capacity >= limit)
                return false;
            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(limit, Array.Length * 4));
            Array.AsSpan(0, length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(Array);
            Array = larger;
            return true;
        }

        public void Shrink()
        {
            if (Array.Length <= Small)
                return;
            ArrayPool<byte>.Shared.Return(Array);
            Array = ArrayPool<byte>.Shared.Rent(Math.Min(Small, limit));
        }

        public void Dispose() => ArrayPool<byte>.Shared.Return(Array);
    }
}
