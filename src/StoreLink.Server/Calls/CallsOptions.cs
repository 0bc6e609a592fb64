namespace StoreLink.Server.Calls;

/// <summary><c>Calls:*</c> — voice and video calls: ringing, liveness, and the media engines StoreLink hands clients to.</summary>
public sealed class CallsOptions
{
    /// <summary>A call nobody answers within this ends as missed.</summary>
    public TimeSpan RingTimeout { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>A joined participant who sent no stats sample or signal for this long has left (closed page, dead network).</summary>
    public TimeSpan LostAfter { get; set; } = TimeSpan.FromSeconds(12);

    /// <summary>Without Janus, calls of three or more participants are a mesh of peer connections of at most this many.</summary>
    public int MaxMeshParticipants { get; set; } = 4;

    /// <summary>STUN servers handed to clients (<c>stun:host:port</c>); coturn answers STUN on its TURN port too.</summary>
    public List<string> StunUrls { get; set; } = [];

    public TurnOptions Turn { get; set; } = new();

    public JanusOptions Janus { get; set; } = new();

    public bool IsValid() =>
        RingTimeout > TimeSpan.Zero && LostAfter > TimeSpan.Zero && MaxMeshParticipants is >= 2 and <= 8 &&
        Turn.CredentialLifetime > TimeSpan.Zero && (Turn.Urls.Count == 0 || !string.IsNullOrEmpty(Turn.Secret)) &&
        (!Turn.ForceRelay || Turn.Urls.Count > 0) && Janus.Bitrate > 0 && Janus.MaxPublishers is >= 2 and <= 64;
}

/// <summary><c>Calls:Turn:*</c> — coturn with <c>use-auth-secret</c>: StoreLink signs short-lived credentials with the shared secret.</summary>
public sealed class TurnOptions
{
    /// <summary><c>turn:host:3478?transport=udp</c>, <c>turn:host:3478?transport=tcp</c>, <c>turns:host:5349</c>; none: no TURN.</summary>
    public List<string> Urls { get; set; } = [];

    /// <summary>coturn's <c>static-auth-secret</c>.</summary>
    public string? Secret { get; set; }

    public TimeSpan CredentialLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Clients use relayed candidates only (hides the parties' addresses from each other; needs TURN).</summary>
    public bool ForceRelay { get; set; }
}

/// <summary><c>Calls:Janus:*</c> — the Janus VideoRoom for calls of three or more and for recordings.</summary>
public sealed class JanusOptions
{
    /// <summary>Janus's HTTP API as this server reaches it (<c>http://127.0.0.1:8088/janus</c>); none: no Janus (mesh, no recording).</summary>
    public string? Url { get; set; }

    /// <summary>Janus's HTTP API as browsers reach it (through the operator's reverse proxy); defaults to <see cref="Url"/>.</summary>
    public string? PublicUrl { get; set; }

    /// <summary>
    /// The VideoRoom plugin's <c>admin_key</c> (<c>janus.plugin.videoroom.jcfg</c>), which creating a room requires when
    /// set. Not Janus's global <c>api_secret</c>: browsers talk to Janus too, and could not keep that secret.
    /// </summary>
    public string? ApiSecret { get; set; }

    /// <summary>Where Janus writes recordings (<c>.mjr</c>) — readable by StoreLink, which post-processes them.</summary>
    public string? RecordingsDirectory { get; set; }

    /// <summary>The most a publisher sends into a room, in bits per second (Janus asks browsers to stay below it).</summary>
    public int Bitrate { get; set; } = 512_000;

    /// <summary>Publishers a room admits: the participants of a call, with room for a rejoin on another device.</summary>
    public int MaxPublishers { get; set; } = 8;

    public bool Configured => !string.IsNullOrEmpty(Url);

    /// <summary>What a call's <c>sfu.url</c> says: <see cref="PublicUrl"/>, else <see cref="Url"/>.</summary>
    public string? BrowserUrl => string.IsNullOrEmpty(PublicUrl) ? Url : PublicUrl;

    public bool CanRecord => Configured && !string.IsNullOrEmpty(RecordingsDirectory);

    /// <summary>
    /// What the console's and the widget's Content-Security-Policy add to <c>connect-src</c> so that browsers reach
    /// Janus: its origin when <see cref="BrowserUrl"/> is on another one, else nothing (a path behind the proxy is 'self').
    /// </summary>
    public string ConnectSource => Uri.TryCreate(BrowserUrl, UriKind.Absolute, out var url) ? " " + url.GetLeftPart(UriPartial.Authority) : "";

    /// <summary>Where Janus records the call <paramref name="callId"/>: a directory of its own, so its files are found and removed together.</summary>
    public string RecordingDirectoryOf(string callId) =>
        callId.Length is > 0 and <= 64 && callId.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-')
            ? Path.Combine(Path.GetFullPath(RecordingsDirectory!), callId)
            : throw new ArgumentException($"Not a call id: '{callId}'.", nameof(callId));
}
