namespace StoreLink.Server.Integrations;

/// <summary><c>Webhooks:*</c> — outbound delivery and the rules for targets.</summary>
public sealed class WebhookOptions
{
    /// <summary>Allow targets on loopback, private, link-local and other non-public addresses (off: refused, SSRF).</summary>
    public bool AllowPrivateTargets { get; set; }

    /// <summary>Host names or CIDR ranges allowed although they are not public (e.g. <c>erp.internal</c>, <c>10.1.2.0/24</c>).</summary>
    public List<string> AllowedTargets { get; set; } = [];

    /// <summary>How long one attempt may take before it counts as failed.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Retries go on for this long after the event (or a manual redelivery); the next failure makes it dead.</summary>
    public TimeSpan RetryPeriod { get; set; } = TimeSpan.FromHours(72);

    /// <summary>The first retry's delay; each next one doubles, up to <see cref="MaxRetryDelay"/>, with ±25 % jitter.</summary>
    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromHours(6);

    /// <summary>How often the dispatcher looks for due deliveries when nothing woke it.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Attempts in flight at once on this node.</summary>
    public int Concurrency { get; set; } = 16;

    /// <summary>Subscriptions per organization.</summary>
    public int MaxSubscriptions { get; set; } = 50;

    public bool IsValid() =>
        Timeout > TimeSpan.Zero && RetryPeriod > TimeSpan.Zero && FirstRetryDelay > TimeSpan.Zero && MaxRetryDelay >= FirstRetryDelay &&
        PollInterval > TimeSpan.Zero && Concurrency is > 0 and <= 256 && MaxSubscriptions > 0 &&
        AllowedTargets.All(t => !string.IsNullOrWhiteSpace(t) && (!t.Contains('/') || System.Net.IPNetwork.TryParse(t, out _)));
}
