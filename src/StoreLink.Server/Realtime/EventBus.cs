namespace StoreLink.Server.Realtime;

/// <summary>
/// Who an event is for: these users, plus (when set) every staff member with a role in <see cref="StoreId"/>,
/// the managers of <see cref="ManagersOf"/> (a store), the org admins of <see cref="OrgAdminsOf"/>, and every staff
/// member of <see cref="StaffOf"/> (an organization).
/// </summary>
public sealed record Audience(
    IReadOnlyList<string> UserIds, string? StoreId = null, string? OrgAdminsOf = null, string? StaffOf = null, string? ManagersOf = null)
{
    public static Audience Users(params string[] userIds) => new(userIds);
}

public enum RealtimeEventKind
{
    /// <summary>Push <see cref="RealtimeEvent.Frame"/> to every connection of the audience.</summary>
    Push,
    /// <summary>Close the connections authenticated with <see cref="RealtimeEvent.TokenHash"/> (4001).</summary>
    RevokeToken,
    /// <summary>Close every connection of <see cref="RealtimeEvent.UserId"/> except the one with <see cref="RealtimeEvent.TokenHash"/> (4001).</summary>
    RevokeUser,
    /// <summary>Ask every connection of <see cref="RealtimeEvent.UserId"/> to reconnect (4010), e.g. after a change of roles.</summary>
    Reconnect,
}

/// <summary>
/// One event between the server's parts and its nodes. <see cref="Frame"/> is the WebSocket frame, serialized once
/// by the publisher and sent as is to every recipient.
/// </summary>
public sealed record RealtimeEvent(
    RealtimeEventKind Kind,
    Audience? Audience = null,
    byte[]? Frame = null,
    string? ExceptConnectionId = null,
    string? TokenHash = null,
    string? UserId = null);

/// <summary>
/// Carries real-time events to the connections of every node. The in-process implementation serves one node;
/// a broker-backed one serves many. Publishers call it only after the change an event describes has committed.
/// Events of one publisher arrive in the order they were published.
/// </summary>
public interface IEventBus
{
    ValueTask PublishAsync(RealtimeEvent e, CancellationToken ct = default);

    /// <summary>Registers the node's receiver (the gateway).</summary>
    void Subscribe(Func<RealtimeEvent, ValueTask> handler);
}

/// <summary>The bus of a single node: delivers synchronously, in publish order.</summary>
public sealed class InMemoryBus : IEventBus
{
    private volatile Func<RealtimeEvent, ValueTask>[] _handlers = [];

    public async ValueTask PublishAsync(RealtimeEvent e, CancellationToken ct = default)
    {
        foreach (var handler in _handlers)
            await handler(e);
    }

    public void Subscribe(Func<RealtimeEvent, ValueTask> handler) => _handlers = [.. _handlers, handler];
}
