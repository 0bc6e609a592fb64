namespace StoreLink.Server.Realtime;

/// <summary><c>Realtime:*</c> — the WebSocket gateway.</summary>
public sealed class RealtimeOptions
{
    /// <summary>How often the server pings; a client that answers nothing for this long again is dropped.</summary>
    public int HeartbeatSeconds { get; set; } = 30;

    /// <summary>Time allowed for the first frame (<c>auth</c>).</summary>
    public int AuthTimeoutSeconds { get; set; } = 10;

    /// <summary>The largest accepted frame; a larger one closes the connection with 4008.</summary>
    public int MaxFrameBytes { get; set; } = 64 * 1024;

    /// <summary>Frames waiting for one connection; a client this far behind is closed with 4009.</summary>
    public int SendQueueFrames { get; set; } = 2048;

    /// <summary>Browser origins allowed to open sockets besides the server's own (e.g. the shops' sites).</summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>Typing frames accepted per connection and second; more are ignored.</summary>
    public int TypingPerSecond { get; set; } = 5;

    internal bool IsValid() =>
        HeartbeatSeconds is >= 1 and <= 600 && AuthTimeoutSeconds is >= 1 and <= 120 &&
        MaxFrameBytes is >= 1024 and <= 1024 * 1024 && SendQueueFrames is >= 16 and <= 1_000_000;
}
