using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Http;

namespace StoreLink.Server.Calls;

// Recording a call: through its Janus room, only where the store allows it, and the customer is told first.
public sealed partial class CallActions
{
    /// <summary>
    /// A joined staff participant turns recording on or off. On: the store must allow it (<c>calls_recording</c>) and
    /// Janus must be able to record; the customer gets a system message in their language first, then the call moves
    /// to its Janus room (<c>sfu</c>) recording from the start, or the room it has starts recording. Off: the room stops.
    /// </summary>
    public async Task<CallDto> RecordingAsync(CurrentUser user, string callId, CallRecordingRequest body, CancellationToken ct)
    {
        var (call, conversation) = await JoinedStaffAsync(user, callId, "Staff who joined the call turn its recording on and off.", ct);
        if (body.On is not { } on)
            throw Invalid("on", "Required: true to record, false to stop.");
        if (call.Ended)
            throw ApiException.Conflict("The call has ended.");
        if (!_options.Janus.CanRecord)
            throw ApiException.Conflict(Texts.Get(user.Language, "call_recording_unavailable"));
        var allowed = call.StoreId is not null && await db.QuerySingleOrDefaultAsync<long>(
            "SELECT calls_recording FROM stores WHERE id = @storeId", new { storeId = call.StoreId }, ct) != 0;
        if (on && !allowed)
            throw ApiException.Conflict(Texts.Get(user.Language, "call_recording_off"));
        if ((call.Recording != 0) == on)
            return await GetAsync(user, call.Id, ct);

        if (on)
        {
            // The room first (a Janus that is down tells the customer nothing), then the notice, before a single frame
            // is recorded (docs/calls.md: recording consent), then the room records.
            var room = await rooms.EnsureAsync(call.Id, record: false, ct) ?? throw ApiException.Conflict(Texts.Get(user.Language, "call_recording_failed"));
            if (conversation.Facts.CustomerId is not null)
                await posts.PostSystemAsync(conversation.Facts, language => Texts.Get(language, "call_recording_notice"), ct);
            if (!await rooms.SetRecordingAsync(room, true, ct))
                throw ApiException.Conflict(Texts.Get(user.Language, "call_recording_failed"));
        }
        else if (CallRooms.Of(call) is { } room)
            await rooms.SetRecordingAsync(room, false, ct);

        var changed = await ChangeAsync(call.Id, async (c, t, before, now) =>
        {
            RequireJoinedStaff(before, user, "Staff who joined the call turn its recording on and off.");
            await c.ExecuteAsync("UPDATE calls SET recording = @recording, mode = CASE WHEN @recording = 1 THEN 'sfu' ELSE mode END WHERE id = @callId",
                new { recording = on ? 1 : 0, callId = call.Id }, t);
            return true;
        }, ct);
        return changed!.ToDto(user.Id, JanusUrl, Now);
    }
}
