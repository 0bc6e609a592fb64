using StoreLink.Protocol;

namespace StoreLink.Server.Calls;

public sealed class CallRow
{
    public const string Columns =
        "id, org_id, conversation_id, store_id, media, mode, state, end_reason, started_by, created_at, answered_at, connected_at, ended_at, recording, sfu_room, sfu_pin, sfu_secret, summary_posted";

    public string Id { get; set; } = "";
    public string OrgId { get; set; } = "";
    public string ConversationId { get; set; } = "";
    public string? StoreId { get; set; }
    public string Media { get; set; } = "";
    public string Mode { get; set; } = "";
    public string State { get; set; } = "";
    public string? EndReason { get; set; }
    public string StartedBy { get; set; } = "";
    public long CreatedAt { get; set; }
    public long? AnsweredAt { get; set; }
    public long? ConnectedAt { get; set; }
    public long? EndedAt { get; set; }
    public long Recording { get; set; }
    public string? SfuRoom { get; set; }
    public string? SfuPin { get; set; }
    public string? SfuSecret { get; set; }
    public long SummaryPosted { get; set; }

    public bool Ended => State == CallStates.Ended;
}

public sealed class ParticipantRow
{
    public const string Columns = "call_id, user_id, user_kind, name, state, device_id, rung_at, joined_at, left_at, left_reason, seen_at";

    public string CallId { get; set; } = "";
    public string UserId { get; set; } = "";
    public string UserKind { get; set; } = "";
    public string Name { get; set; } = "";
    public string State { get; set; } = "";
    public string? DeviceId { get; set; }
    public long? RungAt { get; set; }
    public long? JoinedAt { get; set; }
    public long? LeftAt { get; set; }
    public string? LeftReason { get; set; }
    public long? SeenAt { get; set; }

    public bool Joined => State == CallParticipantStates.Joined;
    public bool Ringing => State == CallParticipantStates.Ringing;

    public CallParticipantDto ToDto() => new(UserId, UserKind, Name, State, DeviceId, Time(JoinedAt), Time(LeftAt), LeftReason);

    public static DateTimeOffset? Time(long? ms) => ms is { } v ? DateTimeOffset.FromUnixTimeMilliseconds(v) : null;
}

/// <summary>A call with its participants and quality samples, as one read gives them.</summary>
public sealed record CallRecord(CallRow Call, IReadOnlyList<ParticipantRow> Participants, IReadOnlyList<CallSample> Samples)
{
    public IEnumerable<string> UserIds => Participants.Select(p => p.UserId);

    public ParticipantRow? Of(string userId) => Participants.FirstOrDefault(p => p.UserId == userId);

    /// <summary>
    /// The call as the contract shows it; <paramref name="viewerId"/> null is the view without <c>sfu</c> (webhooks),
    /// else <c>sfu</c> only for a viewer who joined, while the call is active (its pin is the room's key).
    /// </summary>
    public CallDto ToDto(string? viewerId, string? janusPublicUrl, long now)
    {
        var c = Call;
        var sfu = c is { State: CallStates.Active, SfuRoom: { } room, SfuPin: { } pin } && janusPublicUrl is not null && viewerId is not null && Of(viewerId) is { Joined: true }
            ? new CallSfuDto(janusPublicUrl, room, pin) : null;
        var duration = c.AnsweredAt is { } answered ? Math.Max(0, (c.EndedAt ?? now) - answered) : 0;
        return new CallDto(c.Id, c.ConversationId, c.StoreId, c.Media, c.Mode, c.State, c.EndReason, c.StartedBy,
            DateTimeOffset.FromUnixTimeMilliseconds(c.CreatedAt), ParticipantRow.Time(c.AnsweredAt), ParticipantRow.Time(c.EndedAt), duration,
            c.Recording != 0, Participants.Select(p => p.ToDto()).ToList(), sfu, Quality());
    }

    private CallQualityDto Quality()
    {
        var rtts = Samples.Where(s => s.RttMs is not null).Select(s => s.RttMs!.Value).Order().ToList();
        double? Mean(Func<CallSample, double?> of) => Samples.Select(of).Where(v => v is not null).Select(v => v!.Value).DefaultIfEmpty(double.NaN).Average()
            is var mean && double.IsNaN(mean) ? null : Math.Round(mean, 1);
        // Nearest-rank p95: a sample that was actually measured, never an interpolation between two.
        double? p95 = rtts.Count == 0 ? null : rtts[(int)Math.Ceiling(0.95 * rtts.Count) - 1];
        var setup = Call is { ConnectedAt: { } connected, AnsweredAt: { } answered } ? Math.Max(0, connected - answered) : (long?)null;
        return new CallQualityDto(setup, Mean(s => s.RttMs), p95, Mean(s => s.LossPercent), Mean(s => s.JitterMs), Samples.Any(s => s.Relay != 0), Samples.Count);
    }
}

public sealed class CallSample
{
    public const string Columns = "rtt_ms, loss_percent, jitter_ms, relay";

    public double? RttMs { get; set; }
    public double? LossPercent { get; set; }
    public double? JitterMs { get; set; }
    public long Relay { get; set; }
}
