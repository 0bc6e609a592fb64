using Dapper;
using StoreLink.Protocol;

namespace StoreLink.Server.Calls;

// What the CallSweeper finishes: rings nobody answered, participants who went silent, summaries a dead node left.
public sealed partial class CallActions
{
    /// <summary>
    /// One pass over every node's calls (all state is in the database, so any node finishes what another left):
    /// participants rung longer than <see cref="CallsOptions.RingTimeout"/> miss the call; joined participants of an
    /// active call silent for <see cref="CallsOptions.LostAfter"/> are lost; ended calls get their summary.
    /// </summary>
    public async Task SweepAsync(CancellationToken ct)
    {
        var at = Now;
        var unanswered = await db.QueryAsync<string>("""
            SELECT DISTINCT p.call_id FROM call_participants p JOIN calls c ON c.id = p.call_id
            WHERE p.state = 'ringing' AND p.rung_at <= @before AND c.state <> 'ended'
            """, new { before = at - (long)_options.RingTimeout.TotalMilliseconds }, ct);
        foreach (var callId in unanswered)
            await ChangeAsync(callId, async (c, t, before, now) =>
            {
                var expired = before.Participants.Where(p => p.Ringing && p.RungAt <= now - (long)_options.RingTimeout.TotalMilliseconds).ToList();
                foreach (var p in expired)
                    await SetParticipantAsync(c, t, callId, p.UserId, CallParticipantStates.Missed, now);
                if (expired.Count > 0)
                    await SettleAsync(c, t, callId, CallEndReasons.Missed, now);
                return expired.Count > 0;
            }, ct, quiet: true);

        var silent = await db.QueryAsync<string>("""
            SELECT DISTINCT p.call_id FROM call_participants p JOIN calls c ON c.id = p.call_id
            WHERE p.state = 'joined' AND p.seen_at <= @before AND c.state = 'active'
            """, new { before = at - (long)_options.LostAfter.TotalMilliseconds }, ct);
        foreach (var callId in silent)
            await ChangeAsync(callId, async (c, t, before, now) =>
            {
                if (before.Call.State != CallStates.Active)
                    return false;
                var lost = before.Participants.Where(p => p.Joined && p.SeenAt <= now - (long)_options.LostAfter.TotalMilliseconds).ToList();
                foreach (var p in lost)
                    await SetParticipantAsync(c, t, callId, p.UserId, CallParticipantStates.Left, now, CallEndReasons.Lost);
                if (lost.Count > 0)
                    await SettleAsync(c, t, callId, CallEndReasons.Lost, now);
                return lost.Count > 0;
            }, ct, quiet: true);

        var unsummed = await db.QueryAsync<string>("SELECT id FROM calls WHERE summary_posted = 0 AND state = 'ended'", null, ct);
        foreach (var callId in unsummed)
            if (await ReadAsync(db, null, callId) is { } call)
                await PostSummaryAsync(call, ct);
        await rooms.SweepAsync(ct);
    }
}
