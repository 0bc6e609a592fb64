using Dapper;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;

namespace StoreLink.Server.Calls;

/// <summary>
/// The Janus room of a call, kept with the call (<c>sfu_room</c>, <c>sfu_pin</c>, <c>sfu_secret</c>) so that any node
/// can act on it: created when a call needs the SFU (a third participant, recording), destroyed after the call ended,
/// its recording stored as attachments and posted into the conversation. Janus requests never run inside a call's
/// transaction; a room that could not be destroyed stays in the table (<c>sfu_secret</c> not null) for the sweeper.
/// </summary>
public sealed class CallRooms(
    Db db, IServiceProvider services, CallRecordings recordings, ConversationDirectory directory, SystemPosts posts,
    TimeProvider clock, IOptions<CallsOptions> options, ILogger<CallRooms> logger)
{
    /// <summary>How long after its end a call's room is left to the node that ended it before a sweep takes it over.</summary>
    public static readonly TimeSpan SweepAfter = TimeSpan.FromSeconds(30);

    public bool Configured => options.Value.Janus.Configured;

    // JanusRooms is a typed HttpClient (transient): resolved per use, so its handler rotates as the factory intends.
    private JanusRooms Janus => services.GetRequiredService<JanusRooms>();

    public static JanusRoom? Of(CallRow call) =>
        call is { SfuRoom: { } room, SfuPin: { } pin, SfuSecret: { } secret } && long.TryParse(room, out var id)
            ? new JanusRoom(id, call.Id, secret, pin, call.Recording != 0) : null;

    /// <summary>
    /// The call's room, created (recording from the start when <paramref name="record"/>) and stored with the call if
    /// it has none; null when Janus is not configured or failed (logged: the call goes on without it). Two nodes
    /// creating at once: the first stored wins, the other's room is destroyed.
    /// </summary>
    public async Task<JanusRoom?> EnsureAsync(string callId, bool record, CancellationToken ct)
    {
        if (!Configured)
            return null;
        var existing = await db.QuerySingleOrDefaultAsync<CallRow>($"SELECT {CallRow.Columns} FROM calls WHERE id = @callId", new { callId }, ct);
        if (existing is null || existing.Ended)
            return null;
        if (Of(existing) is { } room)
            return room;
        JanusRoom created;
        try
        {
            created = await Janus.CreateAsync(callId, record, ct);
        }
        catch (JanusException e)
        {
            logger.LogWarning(e, "No Janus room for call {CallId}", callId);
            return null;
        }
        var stored = await db.ExecuteAsync("""
            UPDATE calls SET sfu_room = @room, sfu_pin = @pin, sfu_secret = @secret
            WHERE id = @callId AND sfu_secret IS NULL AND state <> 'ended'
            """, new { room = created.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), pin = created.Pin, secret = created.Secret, callId }, ct);
        if (stored == 1)
            return created;
        await DestroyQuietlyAsync(created);
        return await EnsureAsync(callId, record, ct);
    }

    /// <summary>Starts or stops the room's recording; false (logged) when Janus refused or did not answer.</summary>
    public async Task<bool> SetRecordingAsync(JanusRoom room, bool on, CancellationToken ct)
    {
        try
        {
            await Janus.SetRecordingAsync(room, on, ct);
            return true;
        }
        catch (JanusException e)
        {
            logger.LogWarning(e, "Janus did not switch recording {On} for call {CallId}", on, room.CallId);
            return false;
        }
    }

    /// <summary>
    /// After the call ended: destroys its room and posts what was recorded into the conversation as <c>voice</c> and
    /// <c>video</c> messages in the name of a staff participant. Never throws: a failure is logged and left to the
    /// sweeper (<see cref="SweepAsync"/>). Posting is keyed by attachment, so a second pass adds no second message.
    /// </summary>
    public async Task CloseAsync(string callId, CancellationToken ct)
    {
        if (!Configured)
            return;
        try
        {
            var call = await db.QuerySingleOrDefaultAsync<CallRow>($"SELECT {CallRow.Columns} FROM calls WHERE id = @callId", new { callId }, ct);
            if (call is null || !call.Ended || Of(call) is not { } room)
                return;
            await Janus.DestroyAsync(room, ct);
            if (options.Value.Janus.CanRecord && await OwnerAsync(call, ct) is { } owner
                && await directory.FactsAsync(call.ConversationId, ct) is { } facts)
            {
                foreach (var attachmentId in await recordings.CollectAsync(room, owner, call.StoreId, ct))
                {
                    var type = await db.QuerySingleOrDefaultAsync<string>("SELECT content_type FROM attachments WHERE id = @attachmentId", new { attachmentId }, ct);
                    var kind = type?.StartsWith("video/", StringComparison.Ordinal) == true ? MessageKinds.Video : MessageKinds.Voice;
                    await posts.PostAsAsync(facts, owner.Id, "staff", kind, attachmentId, $"recording:{attachmentId}", ct);
                }
            }
            await db.ExecuteAsync("UPDATE calls SET sfu_secret = NULL WHERE id = @callId", new { callId }, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "The Janus room of call {CallId} was not closed; the sweeper tries again", callId);
        }
    }

    /// <summary>Closes the rooms of calls that ended more than <see cref="SweepAfter"/> ago and still hold one.</summary>
    public async Task SweepAsync(CancellationToken ct)
    {
        if (!Configured)
            return;
        var before = clock.GetUtcNow().ToUnixTimeMilliseconds() - (long)SweepAfter.TotalMilliseconds;
        var left = await db.QueryAsync<string>("SELECT id FROM calls WHERE state = 'ended' AND sfu_secret IS NOT NULL AND ended_at <= @before", new { before }, ct);
        foreach (var callId in left)
            await CloseAsync(callId, ct);
    }

    /// <summary>
    /// In whose name the recording is stored and posted (their upload limits apply): the staff member who started the
    /// call, else the first staff member who joined it.
    /// </summary>
    private async Task<CurrentUser?> OwnerAsync(CallRow call, CancellationToken ct)
    {
        var staff = await db.QueryAsync<(string Id, string Name)>("""
            SELECT s.id, s.name FROM call_participants p JOIN staff s ON s.id = p.user_id
            WHERE p.call_id = @callId AND p.user_kind = 'staff' AND p.joined_at IS NOT NULL
            ORDER BY CASE WHEN p.user_id = @startedBy THEN 0 ELSE 1 END, p.joined_at
            """, new { callId = call.Id, startedBy = call.StartedBy }, ct);
        if (staff.FirstOrDefault() is not { Id: not null } owner)
            return null;
        var roles = (await db.QueryAsync<RoleDto>(StaffRow.SelectRoles, new { staffId = owner.Id }, ct)).ToList();
        return new CurrentUser(owner.Id, UserKind.Staff, call.OrgId, owner.Name, roles, new HashSet<string>(), null, null);
    }

    private async Task DestroyQuietlyAsync(JanusRoom room)
    {
        try
        {
            await Janus.DestroyAsync(room, CancellationToken.None);
        }
        catch (JanusException e)
        {
            logger.LogWarning(e, "A spare Janus room of call {CallId} was not destroyed", room.CallId);
        }
    }
}
