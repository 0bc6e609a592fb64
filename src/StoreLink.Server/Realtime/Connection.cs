using System.Net.WebSockets;
using System.Threading.Channels;
using StoreLink.Server.Accounts;

namespace StoreLink.Server.Realtime;

/// <summary>The close codes of the protocol and what a client does on each.</summary>
public static class CloseCodes
{
    /// <summary>Not authenticated or token revoked: do not reconnect with the same token.</summary>
    public const int Unauthorized = 4001;
    /// <summary>Frame too large or abuse: terminal.</summary>
    public const int TooLarge = 4008;
    /// <summary>Too slow to keep up: reconnect and sync.</summary>
    public const int TooSlow = 4009;
    /// <summary>Server going away: reconnect and sync.</summary>
    public const int GoingAway = 4010;
}

/// <summary>
/// One authenticated socket. Frames to it go through a bounded queue drained by its own writer loop, so a
/// broadcast never waits for a slow socket: a push that finds the queue full closes the connection with 4009.
/// Closing drops what is queued, sends the close frame, and aborts the socket if the peer has not finished
/// the close handshake a few seconds later.
/// </summary>
public sealed class Connection(string id, CurrentUser user, WebSocket socket, int queueFrames, int typingPerSecond) : IDisposable
{
    private static readonly TimeSpan SendGrace = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan AbortAfter = TimeSpan.FromSeconds(7);

    // An idle writer loop picks up a frame on the thread that queued it (the notifying loop, a request's answer)
    // instead of being scheduled on the thread pool: a frame to a socket that is keeping up costs no hand-off and no
    // wake-up of a pool thread. The loop only frames and hands the bytes to Kestrel, which sends them on its own.
    private readonly Channel<byte[]> _outbox = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(queueFrames)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
        AllowSynchronousContinuations = true,
    });
    private readonly CancellationTokenSource _sendAbort = new();
    private readonly SemaphoreSlim _sendSlots = new(MaxSendsInFlight);
    private Task _answers = Task.CompletedTask;
    private Timer? _abortTimer;
    private int _closeCode;
    private string _closeReason = "";
    private long _typingSecond;
    private int _typingCount;
    private long _signalSecond;
    private int _signalCount;

    /// <summary>How many of a connection's sends may wait for their commit at once (the gateway pipelines sends).</summary>
    public const int MaxSendsInFlight = 64;

    private CurrentUser _user = user;

    public string Id { get; } = id;

    /// <summary>Who the socket is, with the token it holds now (a re-authentication swaps the token, never the user).</summary>
    public CurrentUser User => Volatile.Read(ref _user);

    /// <summary>Whether the token the socket holds has run out (a socket lives no longer than its token).</summary>
    public bool ExpiredAt(DateTimeOffset now) => User.ExpiresAt is { } expires && expires <= now;

    /// <summary>Takes the token of <paramref name="renewed"/> (same user); only <see cref="ConnectionRegistry.Renew"/> calls it.</summary>
    internal void Renew(CurrentUser renewed) =>
        Volatile.Write(ref _user, User with { TokenHash = renewed.TokenHash, ExpiresAt = renewed.ExpiresAt });
    public bool IsClosing => Volatile.Read(ref _closeCode) != 0;

    /// <summary>For live pushes: never waits. A full queue means the client cannot keep up.</summary>
    public void Push(byte[] frame)
    {
        if (!_outbox.Writer.TryWrite(frame))
            Close(CloseCodes.TooSlow, "too slow to keep up; reconnect and sync");
    }

    /// <summary>For answers to the client's own requests: waits for room, so a large sync is paced, not dropped.</summary>
    public async ValueTask SendAsync(byte[] frame, CancellationToken ct)
    {
        try
        {
            await _outbox.Writer.WriteAsync(frame, ct);
        }
        catch (ChannelClosedException)
        {
        }
    }

    /// <summary>Done when every send answered so far has had its answer queued (read loop only).</summary>
    public Task AnswersSent => _answers;

    /// <summary>Waits for room among the sends in flight (read loop only).</summary>
    public Task EnterSendAsync(CancellationToken ct) => _sendSlots.WaitAsync(ct);

    public void LeaveSend() => _sendSlots.Release();

    /// <summary>Appends an answer that goes out after the answers before it (read loop only).</summary>
    public void ChainAnswer(Func<Task, Task> answer) => _answers = answer(_answers);

    /// <summary>Whether one more typing frame fits in this second's allowance (read loop only).</summary>
    public bool TypingAllowed() => WithinSecond(ref _typingSecond, ref _typingCount, typingPerSecond);

    /// <summary>
    /// Call signals accepted per second: a peer connection trickles a few dozen ICE candidates at its start, so the
    /// budget is generous; past it a signal is refused (<c>rate_limited</c>), never silently dropped.
    /// </summary>
    public const int SignalsPerSecond = 100;

    public bool SignalAllowed() => WithinSecond(ref _signalSecond, ref _signalCount, SignalsPerSecond);

    private static bool WithinSecond(ref long windowSecond, ref int count, int limit)
    {
        var second = Environment.TickCount64 / 1000;
        if (second != windowSecond)
            (windowSecond, count) = (second, 0);
        return ++count <= limit;
    }

    /// <summary>Ends the connection with a close code; queued frames are dropped.</summary>
    public void Close(int code, string reason)
    {
        if (Interlocked.CompareExchange(ref _closeCode, code, 0) != 0)
            return;
        _closeReason = reason;
        _sendAbort.CancelAfter(SendGrace);
        _abortTimer = new Timer(_ => socket.Abort(), null, AbortAfter, Timeout.InfiniteTimeSpan);
        // Last: completing the queue may run the writer loop's close handshake on this very thread.
        _outbox.Writer.TryComplete();
    }

    /// <summary>Drains the queue into the socket until the connection closes, then sends the close frame.</summary>
    public async Task RunWriterAsync()
    {
        try
        {
            await foreach (var frame in _outbox.Reader.ReadAllAsync())
            {
                if (IsClosing)
                    break;
                await socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, _sendAbort.Token);
            }
            if (IsClosing && socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(SendGrace);
                await socket.CloseOutputAsync((WebSocketCloseStatus)_closeCode, _closeReason, timeout.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // A send also fails when the receiving side is closing the socket: a receive that failed (text that is not
            // UTF-8) writes its close frame (1007), then aborts the socket. Aborting it here would drop the connection
            // before that frame arrives; the read loop ends either way.
            if (socket.State is not (WebSocketState.CloseSent or WebSocketState.Aborted))
                socket.Abort();
            // Nobody drains the queue any more: complete it, so no answer waits for room that never comes.
            Close((int)WebSocketCloseStatus.InternalServerError, "send failed");
        }
    }

    public void Dispose()
    {
        _abortTimer?.Dispose();
        _sendAbort.Dispose();
        _sendSlots.Dispose();
    }
}
