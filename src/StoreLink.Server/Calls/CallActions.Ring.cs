using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Calls;

// Starting, answering and leaving a call, and inviting a colleague to it.
public sealed partial class CallActions
{
    /// <summary>
    /// Starts a call in a conversation the caller sees and rings whom the contract names (<see cref="RingsAsync"/>).
    /// Everyone rung already in a call: the call is created ended <c>busy</c>; nobody to ring: ended <c>missed</c>.
    /// </summary>
    public async Task<CallDto> StartAsync(CurrentUser user, string conversationId, StartCallRequest body, CancellationToken ct)
    {
        Access.RequireCallParty(user);
        var conversation = await access.ConversationAsync(user, conversationId, ct);
        if (conversation.Facts.Kind == ConversationKinds.Notes)
            throw ApiException.Invalid("Calls are made from the service conversation, not from its notes thread.");
        var media = body.Media is CallMedia.Voice or CallMedia.Video ? body.Media : throw Invalid("media", "voice or video.");
        var deviceId = DeviceId(body.DeviceId);
        var targets = await RingsAsync(user, conversation, ct);
        var busy = await BusyAsync(targets, ct);
        var people = await PeopleAsync([user.Id, .. targets], ct);
        var ringing = targets.Where(id => !busy.Contains(id)).ToList();
        // A group call with Janus starts in its room (created once the call exists; see below).
        var mode = rooms.Configured && ringing.Count + 1 > 2 ? CallModes.Sfu : ModeFor(ringing.Count + 1);
        var id = Ids.New("call", clock);
        try
        {
            await db.InTransactionAsync(async (c, t) =>
            {
                var now = Now;
                if (await InCallAsync(c, t, user.Id) is not null)
                    throw ApiException.Conflict("You are in another call: hang it up first.");
                await c.ExecuteAsync("""
                    INSERT INTO calls (id, org_id, conversation_id, store_id, media, mode, state, started_by, created_at)
                    VALUES (@id, @orgId, @conversationId, @storeId, @media, @mode, 'ringing', @me, @now)
                    """, new { id, orgId = user.OrgId, conversationId = conversation.Facts.Id, storeId = conversation.Facts.StoreId, media, mode, me = user.Id, now }, t);
                foreach (var person in people)
                {
                    var state = person.Id == user.Id ? CallParticipantStates.Joined
                        : busy.Contains(person.Id) ? CallParticipantStates.Busy : CallParticipantStates.Ringing;
                    await c.ExecuteAsync("""
                        INSERT INTO call_participants (call_id, user_id, user_kind, name, state, device_id, rung_at, joined_at, seen_at)
                        VALUES (@id, @userId, @kind, @name, @state, @deviceId, @now, @joinedAt, @joinedAt)
                        """, new
                    {
                        id, userId = person.Id, kind = person.Kind, name = person.Name, state, now,
                        deviceId = person.Id == user.Id ? deviceId : null, joinedAt = person.Id == user.Id ? now : (long?)null,
                    }, t);
                }
                if (ringing.Count == 0)
                {
                    await EndAsync(c, t, id, targets.Count > 0 ? CallEndReasons.Busy : CallEndReasons.Missed, now);
                    await OutboxAsync(c, t, null, (await ReadAsync(db, (c, t), id))!, now);
                }
            }, ct);
        }
        catch (Exception e) when (SqlDialect.IsUniqueViolation(e))
        {
            throw ApiException.Conflict("This conversation has a call that is not ended: join that one instead.");
        }
        // Janus down: the group call rings as a mesh rather than waiting for a room that will not come.
        if (mode == CallModes.Sfu && await rooms.EnsureAsync(id, record: false, ct) is null)
            await db.ExecuteAsync("UPDATE calls SET mode = 'mesh' WHERE id = @id AND state <> 'ended'", new { id }, ct);
        var call = (await ReadAsync(db, null, id))!;
        await NotifyAsync(call, ct);
        return call.ToDto(user.Id, JanusUrl, Now);
    }

    /// <summary>
    /// Whom a call rings. A service conversation: a customer's call rings the agent serving it, else the staff who are
    /// online and would be routed it; a staff member's call rings the customer. Direct and group: the other members.
    /// </summary>
    private async Task<List<string>> RingsAsync(CurrentUser user, ConversationAccess conversation, CancellationToken ct)
    {
        var facts = conversation.Facts;
        if (facts.Kind != ConversationKinds.Service)
            return (conversation.Members ?? []).Where(m => m != user.Id).ToList();
        if (user.IsStaff)
            return [facts.CustomerId!];
        if (conversation.AssigneeId is { } assignee)
            return [assignee];
        await using var c = await db.OpenAsync(ct);
        var store = await c.QuerySingleAsync<StoreRow>(StoreRow.SelectById, new { id = facts.StoreId });
        var queueId = await c.QuerySingleOrDefaultAsync<string>("SELECT queue_id FROM conversations WHERE id = @id", new { id = facts.Id });
        return (await router.CandidatesAsync(c, null, store, queueId)).Select(s => s.StaffId).ToList();
    }

    private sealed record Person(string Id, string Kind, string Name);

    /// <summary>Who the ids are, named as others see them (a visitor without a name: 访客 1a2b).</summary>
    private async Task<List<Person>> PeopleAsync(List<string> ids, CancellationToken ct)
    {
        var rows = await db.QueryAsync<(string Id, string Kind, string? Name, string? Attributes)>($"""
            SELECT id, 'staff' AS kind, name, NULL AS attributes FROM staff WHERE {db.Dialect.In("id", "@ids")}
            UNION ALL
            SELECT id, 'customer' AS kind, name, attributes FROM customers WHERE {db.Dialect.In("id", "@ids")}
            """, new { ids = ids.ToArray() }, ct);
        return rows.Select(r => new Person(r.Id, r.Kind, r.Kind == "staff" ? r.Name ?? "" : CustomerNames.Display(r.Id, r.Name, Texts.LanguageOf(r.Attributes))))
            .ToList();
    }

    /// <summary>Of <paramref name="ids"/>, those joined in a call that is not ended.</summary>
    private async Task<HashSet<string>> BusyAsync(List<string> ids, CancellationToken ct) =>
        ids.Count == 0 ? [] : [.. await db.QueryAsync<string>($"""
            SELECT DISTINCT p.user_id FROM call_participants p JOIN calls c ON c.id = p.call_id
            WHERE p.state = 'joined' AND c.state <> 'ended' AND {db.Dialect.In("p.user_id", "@ids")}
            """, new { ids = ids.ToArray() }, ct)];

    /// <summary>The call that is not ended in which <paramref name="userId"/> is joined, if any.</summary>
    private static Task<string?> InCallAsync(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction t, string userId, string? except = null) =>
        c.QuerySingleOrDefaultAsync<string>("""
            SELECT c.id FROM call_participants p JOIN calls c ON c.id = p.call_id
            WHERE p.user_id = @userId AND p.state = 'joined' AND c.state <> 'ended' AND c.id <> @except LIMIT 1
            """, new { userId, except = except ?? "" }, t);

    /// <summary>A participant of the call, or <c>forbidden</c> for someone who may see the call but is not in it.</summary>
    private static ParticipantRow Participant(CallRecord call, CurrentUser user) =>
        call.Of(user.Id) ?? throw ApiException.Forbidden("You are not a participant of this call.");

    private static void RequireJoinedStaff(CallRecord call, CurrentUser user, string message)
    {
        if (!user.IsStaff || !Participant(call, user).Joined)
            throw ApiException.Forbidden(message);
    }

    /// <summary>A call the caller sees and has joined as staff (inviting, snapshots, recording), else <c>forbidden</c> with <paramref name="message"/>.</summary>
    private async Task<(CallRow Call, ConversationAccess Conversation)> JoinedStaffAsync(CurrentUser user, string callId, string message, CancellationToken ct)
    {
        var (call, conversation) = await access.CallAsync(user, callId, ct);
        RequireJoinedStaff((await ReadAsync(db, null, call.Id, samples: false))!, user, message);
        return (call, conversation);
    }

    /// <summary>Joins a call that rings the caller; the call becomes active. Again from the same device: nothing changes.</summary>
    public async Task<CallDto> AcceptAsync(CurrentUser user, string callId, AcceptCallRequest body, CancellationToken ct)
    {
        var (call, _) = await access.CallAsync(user, callId, ct);
        var deviceId = DeviceId(body.DeviceId);
        var changed = await ChangeAsync(call.Id, async (c, t, before, now) =>
        {
            var me = Participant(before, user);
            if (me.Joined)
                return me.DeviceId == deviceId ? false : throw ApiException.Conflict("You joined this call on another device.");
            if (!me.Ringing)
                throw ApiException.Conflict("This call no longer rings for you.");
            if (await InCallAsync(c, t, user.Id, except: call.Id) is not null)
                throw ApiException.Conflict("You are in another call: hang it up first.");
            await c.ExecuteAsync("""
                UPDATE call_participants SET state = 'joined', device_id = @deviceId, joined_at = @now, seen_at = @now, left_at = NULL, left_reason = NULL
                WHERE call_id = @callId AND user_id = @me
                """, new { callId = call.Id, me = user.Id, deviceId, now }, t);
            if (before.Call.State == CallStates.Ringing)
            {
                await c.ExecuteAsync("UPDATE calls SET state = 'active', answered_at = @now WHERE id = @callId", new { callId = call.Id, now }, t);
                // The caller sent no samples while it rang: liveness starts now for everyone in it.
                await c.ExecuteAsync("UPDATE call_participants SET seen_at = @now WHERE call_id = @callId AND state = 'joined'", new { callId = call.Id, now }, t);
            }
            return true;
        }, ct);
        return changed!.ToDto(user.Id, JanusUrl, Now);
    }

    /// <summary>Declines a call that rings the caller; the call ends <c>declined</c> when nobody else is rung or joined besides the caller.</summary>
    public async Task<CallDto> DeclineAsync(CurrentUser user, string callId, CancellationToken ct)
    {
        var (call, _) = await access.CallAsync(user, callId, ct);
        var changed = await ChangeAsync(call.Id, async (c, t, before, now) =>
        {
            var me = Participant(before, user);
            if (me.State == CallParticipantStates.Declined)
                return false;
            if (!me.Ringing)
                throw ApiException.Conflict("This call does not ring for you.");
            await SetParticipantAsync(c, t, call.Id, user.Id, CallParticipantStates.Declined, now);
            await SettleAsync(c, t, call.Id, CallEndReasons.Declined, now);
            return true;
        }, ct);
        return changed!.ToDto(user.Id, JanusUrl, Now);
    }

    /// <summary>
    /// Leaves the call: the caller while it rings cancels it; someone rung declines; a joined participant leaves, and
    /// when fewer than two remain the call ends <c>completed</c> (or <c>failed</c> / <c>lost</c> as the client says).
    /// </summary>
    public async Task<CallDto> HangupAsync(CurrentUser user, string callId, HangupCallRequest? body, CancellationToken ct)
    {
        var (call, _) = await access.CallAsync(user, callId, ct);
        var reason = body?.Reason switch
        {
            null or CallEndReasons.Completed => CallEndReasons.Completed,
            CallEndReasons.Failed or CallEndReasons.Lost => body.Reason,
            _ => throw Invalid("reason", "completed, failed (media never connected) or lost."),
        };
        if (call.Ended)
        {
            // Hanging up an ended call is what a client retries after a lost answer: it answers the call as it ended.
            Participant((await ReadAsync(db, null, call.Id, samples: false))!, user);
            return await GetAsync(user, call.Id, ct);
        }
        var changed = await ChangeAsync(call.Id, async (c, t, before, now) =>
        {
            var me = Participant(before, user);
            if (me.Ringing)
            {
                await SetParticipantAsync(c, t, call.Id, user.Id, CallParticipantStates.Declined, now);
                await SettleAsync(c, t, call.Id, CallEndReasons.Declined, now);
                return true;
            }
            if (!me.Joined)
                return false;
            if (before.Call.State == CallStates.Ringing && before.Call.StartedBy == user.Id)
            {
                await EndAsync(c, t, call.Id, CallEndReasons.Cancelled, now);
                return true;
            }
            await SetParticipantAsync(c, t, call.Id, user.Id, CallParticipantStates.Left, now, reason == CallEndReasons.Completed ? "hangup" : reason);
            await SettleAsync(c, t, call.Id, before.Call.State == CallStates.Ringing ? CallEndReasons.Cancelled : reason, now);
            return true;
        }, ct, quiet: true);
        // Ended in between (the other side hung up first): answer the call as it ended.
        return changed?.ToDto(user.Id, JanusUrl, Now) ?? await GetAsync(user, call.Id, ct);
    }

    /// <summary>
    /// A joined staff participant rings a colleague who may see the conversation. The participants decide the mode
    /// (<see cref="ModeFor"/>); a colleague already in another call is recorded <c>busy</c>.
    /// </summary>
    public async Task<CallDto> InviteAsync(CurrentUser user, string callId, InviteToCallRequest body, CancellationToken ct)
    {
        var (call, conversation) = await JoinedStaffAsync(user, callId, "Staff who joined the call invite colleagues to it.", ct);
        if (string.IsNullOrWhiteSpace(body.UserId))
            throw Invalid("user_id", "Required: the colleague to ring.");
        var colleague = await access.StaffAsync(user, body.UserId, ct);
        if (colleague.DisabledAt is not null || !await access.StaffSeesAsync(colleague, conversation, ct))
            throw ApiException.Conflict($"{colleague.Name} may not see this conversation, so cannot join its call.");
        var person = (await PeopleAsync([colleague.Id], ct)).Single();
        // A third participant with Janus: the room first (outside the change's transaction), so one push carries it.
        var present = (await ReadAsync(db, null, call.Id, samples: false))!.Participants.Count(p => (p.Ringing || p.Joined) && p.UserId != colleague.Id);
        if (rooms.Configured && present + 1 > 2)
            await rooms.EnsureAsync(call.Id, record: false, ct);
        var changed = await ChangeAsync(call.Id, async (c, t, before, now) =>
        {
            RequireJoinedStaff(before, user, "Staff who joined the call invite colleagues to it.");
            if (before.Of(colleague.Id) is { State: CallParticipantStates.Ringing or CallParticipantStates.Joined })
                return false;
            var busy = await InCallAsync(c, t, colleague.Id, except: call.Id) is not null;
            var mode = busy ? before.Call.Mode : ModeFor(before.Participants.Count(p => p.Ringing || p.Joined) + 1, before.Call);
            await c.ExecuteAsync("""
                INSERT INTO call_participants (call_id, user_id, user_kind, name, state, rung_at) VALUES (@callId, @userId, 'staff', @name, @state, @now)
                ON CONFLICT (call_id, user_id) DO UPDATE SET state = excluded.state, rung_at = excluded.rung_at, left_at = NULL, left_reason = NULL
                """, new { callId = call.Id, userId = colleague.Id, name = person.Name, state = busy ? CallParticipantStates.Busy : CallParticipantStates.Ringing, now }, t);
            if (mode != before.Call.Mode)
                await c.ExecuteAsync("UPDATE calls SET mode = @mode WHERE id = @callId", new { mode, callId = call.Id }, t);
            return true;
        }, ct);
        return changed!.ToDto(user.Id, JanusUrl, Now);
    }
}
