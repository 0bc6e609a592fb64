namespace StoreLink.Server.Integrations;

/// <summary><c>Connectors:*</c> — inbound hooks, polling, commands and profile look-ups of connectors.</summary>
public sealed class ConnectorOptions
{
    /// <summary>The largest inbound hook body; a larger one is <c>413 too_large</c> (and logged).</summary>
    public int MaxEventBytes { get; set; } = 256 * 1024;

    /// <summary>Connectors per organization.</summary>
    public int MaxConnectors { get; set; } = 20;

    /// <summary>How often each node looks for polls that are due and for received events nobody finished applying.</summary>
    public TimeSpan LoopInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>One fetch of a changes feed may take this long.</summary>
    public TimeSpan PollTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Events asked for per page of a changes feed (<c>limit</c>).</summary>
    public int PageLimit { get; set; } = 100;

    /// <summary>One attempt of a command may take this long before it counts as failed.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A command that keeps failing (timeouts, 5xx, network errors) is retried this long, then given up.</summary>
    public TimeSpan CommandRetryPeriod { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The first retry's delay; each next one doubles, up to <see cref="CommandMaxRetryDelay"/>, with ±25 % jitter.</summary>
    public TimeSpan CommandFirstRetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    public TimeSpan CommandMaxRetryDelay { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// A command the system accepted (<c>202</c>) and has not answered for this long is given up (<c>failed</c>): the
    /// customer hears it could not be done now and staff are alerted (<c>command_unanswered</c>). A late answer still counts.
    /// </summary>
    public TimeSpan CommandAnswerPeriod { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Commands in flight at once on this node.</summary>
    public int CommandConcurrency { get; set; } = 8;

    /// <summary>How long a customer profile fetched from the system is used before it is asked again.</summary>
    public TimeSpan ProfileCacheTtl { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The customer panel waits at most this long for the system's answer; a slower one lands in the cache.</summary>
    public TimeSpan ProfileWait { get; set; } = TimeSpan.FromSeconds(1.5);

    /// <summary>One profile look-up may take this long in the background.</summary>
    public TimeSpan ProfileTimeout { get; set; } = TimeSpan.FromSeconds(10);

    public bool IsValid() =>
        MaxEventBytes is >= 1024 and <= 16 * 1024 * 1024 && MaxConnectors > 0 && LoopInterval > TimeSpan.Zero && PollTimeout > TimeSpan.Zero &&
        PageLimit is > 0 and <= 1000 && CommandTimeout > TimeSpan.Zero && CommandRetryPeriod > TimeSpan.Zero && CommandFirstRetryDelay > TimeSpan.Zero &&
        CommandMaxRetryDelay >= CommandFirstRetryDelay && CommandAnswerPeriod > TimeSpan.Zero && CommandConcurrency is > 0 and <= 256 && ProfileCacheTtl > TimeSpan.Zero &&
        ProfileWait > TimeSpan.Zero && ProfileTimeout >= ProfileWait;
}
