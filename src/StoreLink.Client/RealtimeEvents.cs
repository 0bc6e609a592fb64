using StoreLink.Protocol;

namespace StoreLink.Client;

/// <summary>Something that happened, as the SDK delivers it: in order per conversation, each message once.</summary>
public abstract record RealtimeEvent;

/// <summary>A message, pushed, caught up after a reconnect, or one this connection sent (<see cref="Own"/>).</summary>
public sealed record MessageReceived(MessageDto Message, bool Own) : RealtimeEvent;

/// <summary>A message lost its body.</summary>
public sealed record MessageRecalled(string ConversationId, string MessageId, long Seq) : RealtimeEvent;

/// <summary>A member's read or delivered watermark moved.</summary>
public sealed record ReceiptUpdated(ReceiptDto Receipt) : RealtimeEvent;

/// <summary>Someone is typing.</summary>
public sealed record TypingStarted(string ConversationId, string UserId) : RealtimeEvent;

/// <summary>A conversation was created or changed (state, members).</summary>
public sealed record ConversationChanged(ConversationDto Conversation) : RealtimeEvent;

/// <summary>A colleague's presence changed.</summary>
public sealed record PresenceChanged(PresenceDto Presence) : RealtimeEvent;

/// <summary>A call was created or changed: rung, joined, declined, left, its mode, ended (media stays with the application).</summary>
public sealed record CallChanged(CallDto Call) : RealtimeEvent;

/// <summary>A WebRTC signal from another participant of a call, for <see cref="CallSignalDto.ToDevice"/> (other devices ignore it).</summary>
public sealed record CallSignalReceived(CallSignalDto Signal) : RealtimeEvent;

/// <summary>The connection's state changed; <see cref="CloseCode"/> tells why it closed.</summary>
public sealed record ConnectionChanged(ConnectionState State, int? CloseCode, string? Reason) : RealtimeEvent;

/// <summary>Where the connection is.</summary>
public enum ConnectionState
{
    /// <summary>Trying to connect (or reconnect after a backoff).</summary>
    Connecting,
    /// <summary>Authenticated and caught up.</summary>
    Connected,
    /// <summary>Lost; will reconnect.</summary>
    Reconnecting,
    /// <summary>Closed for good: signed out (4001), refused (4008) or disposed.</summary>
    Closed,
}

/// <summary>Tuning of <see cref="RealtimeConnection"/>.</summary>
public sealed class RealtimeOptions
{
    /// <summary>How long to wait for the answer to a request before resending it.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>First reconnect delay; doubles up to <see cref="MaxBackoff"/>, with jitter.</summary>
    public TimeSpan MinBackoff { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Longest reconnect delay.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Last seq the application already holds per conversation (for example from local storage).</summary>
    public IDictionary<string, long> Positions { get; set; } = new Dictionary<string, long>();
}
