using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace StoreLink.Server.Calls;

/// <summary>
/// The Janus VideoRoom of one call: Janus's numeric room id and the per-call <see cref="Secret"/> (destroy, recording;
/// only StoreLink knows it) and <see cref="Pin"/> (join; handed to the call's joined participants as <c>sfu.pin</c>).
/// The calls feature keeps all four with the call, so any node can destroy the room after a restart.
/// </summary>
public sealed record JanusRoom(long Id, string CallId, string Secret, string Pin, bool Recording);

/// <summary>Janus could not be reached or refused a request; the caller falls back (mesh, no recording) or reports it.</summary>
public sealed class JanusException(string message, int? code = null) : Exception(message)
{
    /// <summary>Janus's or the VideoRoom plugin's error code, when Janus answered at all.</summary>
    public int? Code { get; } = code;
}

/// <summary>
/// A small client of Janus's HTTP API for the VideoRoom rooms of calls. Each operation uses a session of its own
/// (create session, attach, one request, destroy session): room operations happen a few times per call, so a
/// long-lived session would need a keep-alive loop (Janus drops an idle session after 60 s) and state that another node
/// or a restarted one does not have, for the price of saving two loopback round-trips.
/// </summary>
public sealed class JanusRooms(HttpClient http, IOptions<CallsOptions> options)
{
    private const string Plugin = "janus.plugin.videoroom";

    /// <summary>VideoRoom's error for a room that does not exist (JANUS_VIDEOROOM_ERROR_NO_SUCH_ROOM).</summary>
    public const int NoSuchRoom = 426;

    /// <summary>VideoRoom's error for a join with a wrong or missing pin (JANUS_VIDEOROOM_ERROR_UNAUTHORIZED).</summary>
    public const int Unauthorized = 433;

    private JanusOptions Janus => options.Value.Janus;

    /// <summary>
    /// A private room (not listed) for <paramref name="callId"/> with a fresh secret and pin; recording into
    /// <see cref="JanusOptions.RecordingDirectoryOf"/> from the start when <paramref name="record"/>.
    /// </summary>
    public async Task<JanusRoom> CreateAsync(string callId, bool record, CancellationToken ct)
    {
        if (record && !Janus.CanRecord)
            throw new JanusException("Recording needs Calls:Janus:RecordingsDirectory.");
        var secret = NewSecret();
        var pin = NewSecret();
        var request = new Dictionary<string, object?>
        {
            ["request"] = "create", ["description"] = callId, ["is_private"] = true, ["secret"] = secret, ["pin"] = pin,
            ["publishers"] = Janus.MaxPublishers, ["bitrate"] = Janus.Bitrate, ["permanent"] = false,
            ["record"] = record,
        };
        // Set even when not recording, so that recording can be switched on later into the call's own directory.
        if (Janus.CanRecord)
            request["rec_dir"] = Janus.RecordingDirectoryOf(callId);
        if (!string.IsNullOrEmpty(Janus.ApiSecret))
            request["admin_key"] = Janus.ApiSecret;
        var created = await VideoRoomAsync(request, ct);
        return new JanusRoom(created.GetProperty("room").GetInt64(), callId, secret, pin, record);
    }

    /// <summary>
    /// Destroys the room (Janus hangs up everyone in it); a room already gone is fine. A recorded room first stops
    /// recording: Janus closes its files within that request, whereas destroying closes them later, on the hang-ups, so
    /// that files read right after a destroy would lack their end.
    /// </summary>
    public async Task DestroyAsync(JanusRoom room, CancellationToken ct)
    {
        try
        {
            if (room.Recording)
                await SetRecordingAsync(room, false, ct);
            await VideoRoomAsync(new Dictionary<string, object?> { ["request"] = "destroy", ["room"] = room.Id, ["secret"] = room.Secret, ["permanent"] = false }, ct);
        }
        catch (JanusException e) when (e.Code == NoSuchRoom)
        {
        }
    }

    /// <summary>Starts or stops recording every publisher of the room (the room's secret allows it; <c>lock_record</c> keeps others out).</summary>
    public async Task<JanusRoom> SetRecordingAsync(JanusRoom room, bool on, CancellationToken ct)
    {
        if (on && !Janus.CanRecord)
            throw new JanusException("Recording needs Calls:Janus:RecordingsDirectory.");
        await VideoRoomAsync(new Dictionary<string, object?> { ["request"] = "enable_recording", ["room"] = room.Id, ["secret"] = room.Secret, ["record"] = on }, ct);
        return room with { Recording = on };
    }

    private async Task<JsonElement> VideoRoomAsync(Dictionary<string, object?> request, CancellationToken ct)
    {
        var session = (await JanusAsync("", new() { ["janus"] = "create" }, ct)).GetProperty("data").GetProperty("id").GetInt64();
        try
        {
            var handle = (await JanusAsync($"/{session}", new() { ["janus"] = "attach", ["plugin"] = Plugin }, ct)).GetProperty("data").GetProperty("id").GetInt64();
            var answer = await JanusAsync($"/{session}/{handle}", new() { ["janus"] = "message", ["body"] = request }, ct);
            var data = answer.GetProperty("plugindata").GetProperty("data");
            if (data.TryGetProperty("error_code", out var code))
                throw new JanusException($"Janus VideoRoom {request["request"]}: {data.GetProperty("error").GetString()}", code.GetInt32());
            return data;
        }
        finally
        {
            // Best effort: an abandoned session is dropped by Janus after its session_timeout anyway.
            try
            {
                await JanusAsync($"/{session}", new() { ["janus"] = "destroy" }, CancellationToken.None);
            }
            catch (JanusException)
            {
            }
        }
    }

    private async Task<JsonElement> JanusAsync(string path, Dictionary<string, object?> message, CancellationToken ct)
    {
        if (!Janus.Configured)
            throw new JanusException("Janus is not configured (Calls:Janus:Url).");
        message["transaction"] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        JsonElement answer;
        try
        {
            using var response = await http.PostAsJsonAsync(Janus.Url!.TrimEnd('/') + path, message, ct);
            response.EnsureSuccessStatusCode();
            answer = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            throw new JanusException($"Janus at {Janus.Url} did not answer: {e.Message}");
        }
        if (answer.GetProperty("janus").GetString() == "error")
        {
            var error = answer.GetProperty("error");
            throw new JanusException($"Janus: {error.GetProperty("reason").GetString()}", error.GetProperty("code").GetInt32());
        }
        return answer;
    }

    private static string NewSecret() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
}
