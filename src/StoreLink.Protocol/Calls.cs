using System.Text.Json;
using System.Text.Json.Serialization;

namespace StoreLink.Protocol;

/// <summary>
/// A voice or video call of a conversation (docs/protocol.md "Calls"). Members the contract shows as <c>null</c> are
/// written as <c>null</c>, not left out, so a client can tell "not yet" from an older server.
/// </summary>
public sealed record CallDto(
    string Id,
    string ConversationId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? StoreId,
    string Media,
    string Mode,
    string State,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? EndReason,
    string StartedBy,
    DateTimeOffset CreatedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] DateTimeOffset? AnsweredAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] DateTimeOffset? EndedAt,
    long DurationMs,
    bool Recording,
    IReadOnlyList<CallParticipantDto> Participants,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] CallSfuDto? Sfu,
    CallQualityDto Quality);

/// <summary>One person with one device in a call. <c>state</c>: see <see cref="CallParticipantStates"/>.</summary>
public sealed record CallParticipantDto(
    string UserId,
    string Kind,
    string Name,
    string State,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? DeviceId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] DateTimeOffset? JoinedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] DateTimeOffset? LeftAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? LeftReason);

/// <summary>The Janus room of a call in <c>sfu</c> mode: shown only to joined participants while the call is active.</summary>
public sealed record CallSfuDto(string Url, string Room, string Pin);

/// <summary>What the participants' quality samples add up to.</summary>
public sealed record CallQualityDto(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] long? SetupMs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] double? RttMeanMs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] double? RttP95Ms,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] double? LossPercent,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] double? JitterMs,
    bool Relay,
    long Samples);

/// <summary><c>POST /v1/conversations/{id}/calls</c>.</summary>
public sealed record StartCallRequest(string? Media, string? DeviceId);

/// <summary><c>POST /v1/calls/{id}/accept</c>.</summary>
public sealed record AcceptCallRequest(string? DeviceId);

/// <summary><c>POST /v1/calls/{id}/hangup</c>: <c>reason</c> is <c>failed</c> or <c>lost</c> when the client knows it.</summary>
public sealed record HangupCallRequest(string? Reason);

/// <summary><c>POST /v1/calls/{id}/invite</c>.</summary>
public sealed record InviteToCallRequest(string? UserId);

/// <summary><c>POST /v1/calls/{id}/stats</c>: a WebRTC <c>getStats</c> summary of one participant's device.</summary>
public sealed record CallStatsRequest(
    string? DeviceId, double? RttMs, double? LossPercent, double? JitterMs, double? BitrateKbps, int? Width, int? Height, double? Fps,
    bool? Relay, bool? Connected);

/// <summary><c>POST /v1/calls/{id}/snapshot</c>: an image the caller uploaded.</summary>
public sealed record CallSnapshotRequest(string? AttachmentId);

/// <summary>The answer to a snapshot: the image message, and the work item whose timeline got it.</summary>
public sealed record CallSnapshotDto(MessageDto Message, string? WorkItemId);

/// <summary><c>POST /v1/calls/{id}/recording</c>.</summary>
public sealed record CallRecordingRequest(bool? On);

/// <summary>A <c>call_signal</c> frame as the target receives it.</summary>
public sealed record CallSignalDto(string CallId, string From, string? FromDevice, string? ToDevice, JsonElement Signal);

/// <summary>Call media.</summary>
public static class CallMedia
{
    /// <summary>Audio only.</summary>
    public const string Voice = "voice";
    /// <summary>Audio and video.</summary>
    public const string Video = "video";
}

/// <summary>How the media of a call flows.</summary>
public static class CallModes
{
    /// <summary>Two participants, peer to peer.</summary>
    public const string P2p = "p2p";
    /// <summary>A peer connection between every two participants (no Janus).</summary>
    public const string Mesh = "mesh";
    /// <summary>Through a Janus VideoRoom.</summary>
    public const string Sfu = "sfu";
}

/// <summary>A call's state: <c>ringing</c> → <c>active</c> → <c>ended</c>, or <c>ringing</c> → <c>ended</c>.</summary>
public static class CallStates
{
    /// <summary>Nobody besides the caller joined yet.</summary>
    public const string Ringing = "ringing";
    /// <summary>Someone besides the caller joined.</summary>
    public const string Active = "active";
    /// <summary>Over; never changes again.</summary>
    public const string Ended = "ended";
}

/// <summary>Why a call ended; also the <c>result</c> of its summary message.</summary>
public static class CallEndReasons
{
    /// <summary>Hung up after talking.</summary>
    public const string Completed = "completed";
    /// <summary>The caller hung up while it rang.</summary>
    public const string Cancelled = "cancelled";
    /// <summary>Everyone rung declined.</summary>
    public const string Declined = "declined";
    /// <summary>Nobody answered in time (or nobody could be rung).</summary>
    public const string Missed = "missed";
    /// <summary>Everyone rung was in another call.</summary>
    public const string Busy = "busy";
    /// <summary>Media never connected.</summary>
    public const string Failed = "failed";
    /// <summary>Participants stopped reporting, so fewer than two remained.</summary>
    public const string Lost = "lost";
}

/// <summary>A participant's state in a call.</summary>
public static class CallParticipantStates
{
    /// <summary>Being rung.</summary>
    public const string Ringing = "ringing";
    /// <summary>In the call.</summary>
    public const string Joined = "joined";
    /// <summary>Was in the call and left (<c>left_reason</c> says why).</summary>
    public const string Left = "left";
    /// <summary>Declined.</summary>
    public const string Declined = "declined";
    /// <summary>Did not answer in time.</summary>
    public const string Missed = "missed";
    /// <summary>Was in another call.</summary>
    public const string Busy = "busy";
}
