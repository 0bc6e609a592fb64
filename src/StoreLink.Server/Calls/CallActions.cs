using System.Data.Common;
using Dapper;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Integrations;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Calls;

/// <summary>
/// Calls (docs/protocol.md "Calls"): check through <see cref="Access"/>, change the call in one transaction that first
/// locks its row (<see cref="ChangeAsync"/>), notify after commit — the <c>call</c> frame to every participant, and when
/// the call ended its summary message. The use cases are split by file: ringing (<c>.Ring.cs</c>), media and quality
/// (<c>.Media.cs</c>), and what the <see cref="CallSweeper"/> finishes (<c>.Sweep.cs</c>).
/// </summary>
public sealed partial class CallActions(
    Db db, Access access, ConversationDirectory directory, SystemPosts posts, Desk.Router router, Outbox outbox, IEventBus bus,
    Workflows.WorkItemActions workItems, CallRooms rooms, TimeProvider clock, IOptions<CallsOptions> options, ILogger<CallActions> logger)
{
    private readonly CallsOptions _options = options.Value;

    private long Now => clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Janus as browsers reach it, for the <c>sfu</c> member of a call.</summary>
    private string? JanusUrl => _options.Janus.BrowserUrl;

    public async Task<CallDto> GetAsync(CurrentUser user, string callId, CancellationToken ct)
    {
        var (call, _) = await access.CallAsync(user, callId, ct);
        return (await ReadAsync(db, null, call.Id))!.ToDto(user.Id, JanusUrl, Now);
    }

    /// <summary>The conversation's calls, newest first.</summary>
    public async Task<IReadOnlyList<CallDto>> ListAsync(CurrentUser user, string conversationId, int? limit, CancellationToken ct)
    {
        Access.RequireCallParty(user);
        var conversation = await access.ConversationAsync(user, conversationId, ct);
        if (limit is < 1 or > 100)
            throw Invalid("limit", "From 1 to 100.");
        var ids = await db.QueryAsync<string>(
            "SELECT id FROM calls WHERE conversation_id = @id ORDER BY created_at DESC, id DESC LIMIT @limit", new { id = conversation.Facts.Id, limit = limit ?? 20 }, ct);
        var calls = new List<CallDto>();
        foreach (var id in ids)
            calls.Add((await ReadAsync(db, null, id))!.ToDto(user.Id, JanusUrl, Now));
        return calls;
    }

    private static ApiException Invalid(string field, string message) =>
        new(ErrorCodes.InvalidRequest, "The call request is not valid.", new Dictionary<string, string[]> { [field] = [message] });

    private static string DeviceId(string? deviceId) =>
        deviceId is { Length: > 0 and <= 64 } && !string.IsNullOrWhiteSpace(deviceId) ? deviceId
        : throw Invalid("device_id", "Required: an id the client makes up per page or app instance, at most 64 characters.");

    /// <summary>
    /// The one place that decides how a call's media flows, for the participants it will have: two talk peer to peer;
    /// more go through the call's Janus room when it has one (<see cref="CallRooms"/>), else a mesh of up to
    /// <see cref="CallsOptions.MaxMeshParticipants"/>. A call that went to the SFU stays there.
    /// </summary>
    private string ModeFor(int participants, CallRow? call = null)
    {
        if (call is { Mode: CallModes.Sfu })
            return CallModes.Sfu;
        if (participants <= 2)
            return CallModes.P2p;
        if (call is not null && CallRooms.Of(call) is not null)
            return CallModes.Sfu;
        if (participants <= _options.MaxMeshParticipants)
            return CallModes.Mesh;
        throw ApiException.Conflict($"Without a media server (Janus) a call has at most {_options.MaxMeshParticipants} participants.");
    }

    /// <summary>
    /// A call, its participants and samples, read on <paramref name="tx"/> (inside a change's transaction) or a fresh
    /// connection. The samples (one a second per participant) are only for the quality of an answered call: checks on
    /// the hot paths (every signal, every sample) leave them out (<paramref name="samples"/> false).
    /// </summary>
    private static async Task<CallRecord?> ReadAsync(Db db, (DbConnection C, DbTransaction T)? tx, string callId, bool samples = true)
    {
        DbConnection? own = null;
        var c = tx?.C ?? (own = await db.OpenAsync());
        try
        {
            var t = tx?.T;
            var call = await c.QuerySingleOrDefaultAsync<CallRow>($"SELECT {CallRow.Columns} FROM calls WHERE id = @callId", new { callId }, t);
            if (call is null)
                return null;
            var participants = (await c.QueryAsync<ParticipantRow>(
                $"SELECT {ParticipantRow.Columns} FROM call_participants WHERE call_id = @callId ORDER BY rung_at, user_id", new { callId }, t)).ToList();
            var quality = samples
                ? (await c.QueryAsync<CallSample>($"SELECT {CallSample.Columns} FROM call_samples WHERE call_id = @callId", new { callId }, t)).ToList()
                : [];
            return new CallRecord(call, participants, quality);
        }
        finally
        {
            if (own is not null)
                await own.DisposeAsync();
        }
    }

    /// <summary>What a change does inside its transaction: false when there is nothing to change (nothing is notified then).</summary>
    private delegate Task<bool> Apply(DbConnection c, DbTransaction t, CallRecord before, long now);

    /// <summary>
    /// One change of a call that is not ended: the version bump locks the call's row first, so concurrent changes (two
    /// nodes, the sweeper and a hang-up) queue up and each sees the one before; an ended call answers <c>conflict</c>
    /// (<paramref name="quiet"/>: null instead, for the sweeper). Webhook events go to the outbox in the same
    /// transaction; after commit the call is pushed to its participants and, when it ended, its summary is written.
    /// </summary>
    private async Task<CallRecord?> ChangeAsync(string callId, Apply apply, CancellationToken ct, bool quiet = false)
    {
        var result = await db.InTransactionAsync<(CallRecord? Before, CallRecord? After)>(async (c, t) =>
        {
            var now = Now;
            var locked = await c.ExecuteAsync("UPDATE calls SET version = version + 1 WHERE id = @callId AND state <> 'ended'", new { callId }, t);
            if (locked == 0)
                return (null, null);
            var before = (await ReadAsync(db, (c, t), callId, samples: false))!;
            if (!await apply(c, t, before, now))
                return (before, null);
            var after = (await ReadAsync(db, (c, t), callId))!;
            await OutboxAsync(c, t, before, after, now);
            return (before, after);
        }, ct);
        if (result.Before is null)
            return quiet ? null : throw ApiException.Conflict("The call has ended.");
        if (result.After is null)
            return await ReadAsync(db, null, callId); // unchanged: read whole (the check above left the samples out)
        await NotifyAsync(result.After, ct);
        return result.After;
    }

    /// <summary>
    /// <c>call.started</c> when the call became active, <c>call.ended</c> when it ended (the call without <c>sfu</c>);
    /// <paramref name="before"/> null: the call was just created. Staff calls (direct, group) never leave, like staff chats.
    /// </summary>
    private async Task OutboxAsync(DbConnection c, DbTransaction t, CallRecord? before, CallRecord after, long now)
    {
        var started = before?.Call.State == CallStates.Ringing && after.Call.State == CallStates.Active;
        var ended = before?.Call.Ended != true && after.Call.Ended;
        if (!started && !ended)
            return;
        var kind = await c.QuerySingleOrDefaultAsync<string>("SELECT kind FROM conversations WHERE id = @id", new { id = after.Call.ConversationId }, t);
        if (kind != ConversationKinds.Service)
            return;
        if (started)
            await outbox.EnqueueAsync(c, t, WebhookEventTypes.CallStarted, after.Call.OrgId, after.Call.StoreId, new { call = after.ToDto(null, null, now) }, now);
        if (ended)
            await outbox.EnqueueAsync(c, t, WebhookEventTypes.CallEnded, after.Call.OrgId, after.Call.StoreId, new { call = after.ToDto(null, null, now) }, now);
    }

    /// <summary>
    /// After commit: the <c>call</c> frame to every participant (each sees <c>sfu</c> as their own state allows), and
    /// for an ended call its summary message.
    /// </summary>
    private async Task NotifyAsync(CallRecord call, CancellationToken ct)
    {
        var now = Now;
        // The pin is per viewer (joined participants only), so a call with a room is serialized per viewer.
        if (call.Call.SfuRoom is not null)
            foreach (var id in call.UserIds)
                await bus.PublishAsync(CallEvent(call.ToDto(id, JanusUrl, now), Audience.Users(id)), ct);
        else
            await bus.PublishAsync(CallEvent(call.ToDto(null, JanusUrl, now), Audience.Users([.. call.UserIds])), ct);
        if (call.Call.Ended)
        {
            await PostSummaryAsync(call, CancellationToken.None);
            // After the frame and the summary: the room's recording takes janus-pp-rec a moment per track.
            await rooms.CloseAsync(call.Call.Id, CancellationToken.None);
        }
    }

    private static RealtimeEvent CallEvent(CallDto call, Audience audience) =>
        new(RealtimeEventKind.Push, audience, Frames.Serialize(new { type = "call", call }));

    /// <summary>
    /// The call's summary message, written once: its <c>client_msg_id</c> is the call's, so a second writer (the
    /// sweeper finishing for a node that died after the end committed) gets the stored message back.
    /// </summary>
    private async Task PostSummaryAsync(CallRecord call, CancellationToken ct)
    {
        try
        {
            var facts = await directory.FactsAsync(call.Call.ConversationId, ct);
            if (facts is not null)
            {
                var c = call.Call;
                var body = new
                {
                    call_id = c.Id, media = c.Media, result = c.EndReason, duration_ms = call.ToDto(null, null, Now).DurationMs,
                    started_at = DateTimeOffset.FromUnixTimeMilliseconds(c.CreatedAt),
                    participant_ids = call.Participants.Where(p => p.JoinedAt is not null).Select(p => p.UserId).ToList(),
                };
                var audience = facts.IsStoreConversation ? null : facts.Audience(await directory.MembersAsync(facts.Id, ct));
                await posts.PostAsync(facts, MessageKinds.Call, body, ct, clientMsgId: $"call:{c.Id}", audience: audience);
            }
            await db.ExecuteAsync("UPDATE calls SET summary_posted = 1 WHERE id = @id", new { id = call.Call.Id }, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "The summary of call {CallId} was not written; the sweeper tries again", call.Call.Id);
        }
    }

    private static Task SetParticipantAsync(DbConnection c, DbTransaction t, string callId, string userId, string state, long now, string? leftReason = null) =>
        c.ExecuteAsync("""
            UPDATE call_participants SET state = @state,
                left_at = CASE WHEN @state = 'left' THEN @now ELSE left_at END,
                left_reason = CASE WHEN @state = 'left' THEN @leftReason ELSE left_reason END
            WHERE call_id = @callId AND user_id = @userId
            """, new { callId, userId, state, now, leftReason }, t);

    /// <summary>
    /// Ends the call when its participants no longer make one: while it rings, nobody is rung any more and nobody but
    /// the caller joined; once active, fewer than two are joined. The ones still rung miss it, the ones joined leave.
    /// </summary>
    private static async Task<bool> SettleAsync(DbConnection c, DbTransaction t, string callId, string reason, long now)
    {
        var call = await c.QuerySingleAsync<(string State, string StartedBy)>("SELECT state, started_by FROM calls WHERE id = @callId", new { callId }, t);
        var people = (await c.QueryAsync<(string UserId, string State)>("SELECT user_id, state FROM call_participants WHERE call_id = @callId", new { callId }, t)).ToList();
        var joined = people.Count(p => p.State == CallParticipantStates.Joined);
        var ringing = people.Count(p => p.State == CallParticipantStates.Ringing);
        var over = call.State == CallStates.Ringing
            ? ringing == 0 && people.All(p => p.UserId == call.StartedBy || p.State != CallParticipantStates.Joined)
            : joined < 2;
        if (!over)
            return false;
        await EndAsync(c, t, callId, reason, now);
        return true;
    }

    private static async Task EndAsync(DbConnection c, DbTransaction t, string callId, string reason, long now)
    {
        await c.ExecuteAsync("UPDATE calls SET state = 'ended', end_reason = @reason, ended_at = @now WHERE id = @callId AND state <> 'ended'",
            new { callId, reason, now }, t);
        await c.ExecuteAsync("UPDATE call_participants SET state = 'missed' WHERE call_id = @callId AND state = 'ringing'", new { callId }, t);
        await c.ExecuteAsync("UPDATE call_participants SET state = 'left', left_at = @now, left_reason = @reason WHERE call_id = @callId AND state = 'joined'",
            new { callId, now, reason }, t);
    }
}
