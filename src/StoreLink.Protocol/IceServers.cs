namespace StoreLink.Protocol;

/// <summary>
/// <c>GET /v1/calls/ice-servers</c>: what a client passes to <c>RTCPeerConnection</c> (<c>iceServers</c>,
/// <c>iceTransportPolicy</c>). TURN credentials stop working at <see cref="ExpiresAt"/>; fetch new ones before a call.
/// </summary>
public sealed record IceServersDto(IReadOnlyList<IceServerDto> IceServers, string IceTransportPolicy, DateTimeOffset ExpiresAt);

/// <summary>One STUN or TURN entry; TURN entries carry a short-lived username and credential.</summary>
public sealed record IceServerDto(IReadOnlyList<string> Urls, string? Username = null, string? Credential = null);
