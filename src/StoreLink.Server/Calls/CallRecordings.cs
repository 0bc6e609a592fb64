using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Options;
using StoreLink.Server.Accounts;
using StoreLink.Protocol;
using StoreLink.Server.Conversations;
using StoreLink.Server.Http;

namespace StoreLink.Server.Calls;

/// <summary>
/// Turns what Janus recorded of a call (one <c>.mjr</c> file of RTP packets per publisher and track) into playable files
/// with <c>janus-pp-rec</c> (Debian's <c>janus-tools</c>) and stores them as attachments. Janus writes the files; this
/// node must be able to read and remove them (<c>Calls:Janus:RecordingsDirectory</c> on a disk both see).
/// </summary>
public sealed class CallRecordings(IOptions<CallsOptions> options, AttachmentStore attachments, ILogger<CallRecordings> logger)
{
    public const string PostProcessor = "janus-pp-rec";

    /// <summary>
    /// After <paramref name="room"/> was destroyed: one attachment per recorded track (Opus audio as Ogg, VP8/VP9 video
    /// as WebM, H.264 as MP4), uploaded as <paramref name="owner"/> (whose limits apply) in <paramref name="storeId"/>,
    /// in the order of the tracks' files. A track that cannot be converted or is over an upload limit is logged and left
    /// in place; the call directory goes once every track was stored. No recording: an empty list.
    /// </summary>
    public async Task<IReadOnlyList<string>> CollectAsync(JanusRoom room, CurrentUser owner, string? storeId, CancellationToken ct)
    {
        var directory = options.Value.Janus.RecordingDirectoryOf(room.CallId);
        if (!Directory.Exists(directory))
            return [];
        var stored = new List<string>();
        var left = 0;
        foreach (var (recording, index) in Directory.EnumerateFiles(directory, "*.mjr").Order(StringComparer.Ordinal).Select((f, i) => (f, i + 1)))
        {
            var track = await TrackOfAsync(recording, ct);
            if (track is null)
            {
                left++;
                continue;
            }
            var output = Path.ChangeExtension(recording, track.Value.Extension);
            if (!await RunAsync([recording, output], null, ct) || !File.Exists(output) || new FileInfo(output).Length == 0)
            {
                logger.LogWarning("janus-pp-rec could not convert {Recording} of call {CallId}; left in place", recording, room.CallId);
                left++;
                continue;
            }
            try
            {
                await using var file = File.OpenRead(output);
                var name = $"{room.CallId}-{index}-{track.Value.Kind}.{track.Value.Extension}";
                stored.Add((await attachments.SaveAsync(owner, storeId, file, name, track.Value.ContentType, owner.Language, ct)).Id);
                File.Delete(recording);
            }
            catch (ApiException e) when (e.Code is ErrorCodes.TooLarge or ErrorCodes.QuotaExceeded or ErrorCodes.RateLimited)
            {
                // Over Messages:MaxAttachmentBytes or an upload limit: the other tracks are still worth keeping.
                logger.LogWarning("The recording {Recording} of call {CallId} was not stored: {Reason}; left in place", recording, room.CallId, e.Message);
                left++;
            }
            finally
            {
                File.Delete(output);
            }
        }
        if (left == 0)
            Directory.Delete(directory, recursive: true);
        return stored;
    }

    /// <summary>What a recording holds, from its header (<c>janus-pp-rec --json</c>); null for data channels and codecs without a container here.</summary>
    private async Task<(string Kind, string Extension, string ContentType)?> TrackOfAsync(string recording, CancellationToken ct)
    {
        var header = new StringWriter();
        if (!await RunAsync(["--json", recording], header, ct))
            return null;
        string? type, codec;
        try
        {
            using var json = JsonDocument.Parse(header.ToString());
            type = json.RootElement.GetProperty("t").GetString();
            codec = json.RootElement.GetProperty("c").GetString();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            logger.LogWarning("{Recording} has no readable header", recording);
            return null;
        }
        return (type, codec) switch
        {
            ("a", "opus") => ("audio", "opus", "audio/ogg"),
            ("a", "g711" or "pcmu" or "pcma" or "g722" or "l16") => ("audio", "wav", "audio/wav"),
            ("v", "vp8" or "vp9") => ("video", "webm", "video/webm"),
            ("v", "h264" or "av1" or "h265") => ("video", "mp4", "video/mp4"),
            _ => null,
        };
    }

    private async Task<bool> RunAsync(string[] arguments, TextWriter? stdout, CancellationToken ct)
    {
        var info = new ProcessStartInfo(PostProcessor) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // Only errors in the log, so that --json prints the header alone.
        foreach (var argument in (string[])["--disable-colors", "--debug-level=1", .. arguments])
            info.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (Win32Exception)
        {
            throw new JanusException($"{PostProcessor} is not installed (apt-get install janus-tools).");
        }
        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync(ct);
            var errors = process.StandardError.ReadToEndAsync(ct);
            try
            {
                await process.WaitForExitAsync(ct);
            }
            catch (OperationCanceledException)
            {
                process.Kill();
                throw;
            }
            stdout?.Write(await output);
            if (process.ExitCode != 0)
                logger.LogWarning("{Tool} {Arguments} exited with {Code}: {Errors}", PostProcessor, string.Join(' ', arguments), process.ExitCode, await errors);
            return process.ExitCode == 0;
        }
    }
}
