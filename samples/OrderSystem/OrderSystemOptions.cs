namespace OrderSystem;

/// <summary>
/// Settings of the order system (section <c>OrderSystem</c>). The StoreLink credentials are written by <c>setup</c>
/// into the system's own database; a value given here wins over the stored one.
/// </summary>
public sealed class OrderSystemOptions
{
    /// <summary>Where <c>orders.db</c> lives.</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>StoreLink's address.</summary>
    public string StoreLinkUrl { get; set; } = "http://localhost:5080";

    /// <summary>The store whose orders these are (its <c>store_key</c>).</summary>
    public string StoreKey { get; set; } = "demo-bags";

    public string? ConnectorId { get; set; }
    public string? ConnectorSecret { get; set; }
    public string? ApiKey { get; set; }
    public string? WebhookSecret { get; set; }

    /// <summary>
    /// <c>true</c>: every change is pushed to StoreLink's inbound hook at once (connector mode <c>webhook</c>);
    /// <c>false</c>: StoreLink fetches the changes feed (connector mode <c>polling</c>).
    /// </summary>
    public bool PushEvents { get; set; } = true;

    /// <summary>Answer commands with <c>202</c> and report the outcome later through StoreLink's API.</summary>
    public bool AnswerCommandsLater { get; set; }

    /// <summary>With <see cref="AnswerCommandsLater"/>: how long the system "works" on a command before it reports.</summary>
    public TimeSpan CommandDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often the outbox looks for events to push and reports to send, besides being woken.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The longest wait between two tries of an event StoreLink did not take.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(1);
}
