using System.Security.Cryptography;
using Dapper;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Desk;
using StoreLink.Server.Http;

namespace StoreLink.Server.Conversations;

public sealed class AttachmentRow
{
    public const string Columns = "id, org_id, uploader_id, store_id, name, content_type, size, sha256, created_at";

    public string Id { get; set; } = "";
    public string OrgId { get; set; } = "";
    public string UploaderId { get; set; } = "";
    public string? StoreId { get; set; }
    public string Name { get; set; } = "";
    public string ContentType { get; set; } = "";
    public long Size { get; set; }
    public string Sha256 { get; set; } = "";
    public long CreatedAt { get; set; }

    public AttachmentDto ToDto() => new(Id, Name, ContentType, Size, Sha256);
}

/// <summary><c>Messages:*</c> — limits of message content.</summary>
public sealed class MessageOptions
{
    public int MaxTextLength { get; set; } = 5000;
    public long MaxAttachmentBytes { get; set; } = 25 * 1024 * 1024;
    public int MaxVoiceMilliseconds { get; set; } = 10 * 60 * 1000;

    internal bool IsValid() => MaxTextLength is > 0 and <= 100_000 && MaxAttachmentBytes is > 0 and <= 2L * 1024 * 1024 * 1024;
}

/// <summary>
/// Upload and download of attachments. Uploads are streamed to a temporary file while hashed, then kept once per
/// content under <c>{data}/attachments/ab/abcdef…</c>.
/// </summary>
public static class AttachmentsApi
{
    public static void MapAttachments(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/attachments").RequireAuthorization().WithTags("Attachments");
        group.MapPost("/", UploadAsync).DisableAntiforgery()
            .WithMetadata(new RequestSizeLimitMetadata());
        group.MapGet("/{id}", DownloadAsync);
    }

    private sealed class RequestSizeLimitMetadata : Microsoft.AspNetCore.Http.Metadata.IRequestSizeLimitMetadata
    {
        // The upload checks its own limit (Messages:MaxAttachmentBytes) while streaming; Kestrel's 1 MiB does not apply.
        public long? MaxRequestBodySize => null;
    }

    private static async Task<IResult> UploadAsync(HttpContext http, CurrentUser user, AttachmentStore store, CancellationToken ct)
    {
        if (user.IsApiClient)
            throw ApiException.Forbidden("API keys do not upload attachments yet.");
        var language = user.Language;
        var storeId = UploadLimits.StoreOf(user);
        // A caller already at a limit is refused before a byte of the body is read.
        await store.CheckLimitsAsync(user, storeId, language, ct);
        var boundary = http.Request.ContentType is { } type && MediaTypeHeaderValue.TryParse(type, out var media) &&
                       media.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
            ? HeaderUtilities.RemoveQuotes(media.Boundary).Value : null;
        // RFC 2046 allows 70 characters; MultipartReader throws on more.
        if (string.IsNullOrEmpty(boundary) || boundary.Length > 70)
            throw ApiException.Invalid("Send the file as multipart/form-data in a field named 'file'.");
        var reader = new MultipartReader(boundary, http.Request.Body);
        while (await ReadSectionAsync(reader, ct) is { } section)
        {
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) ||
                disposition.Name.Value?.Trim('"') != "file" || !disposition.IsFileDisposition())
                continue;
            var name = disposition.FileNameStar.Value ?? disposition.FileName.Value?.Trim('"') ?? "file";
            var attachment = await store.SaveAsync(user, storeId, section.Body, name, section.ContentType, language, ct);
            return TypedResults.Created($"/v1/attachments/{attachment.Id}", attachment.ToDto());
        }
        throw ApiException.Invalid("No file: send it in a multipart field named 'file'.");
    }

    /// <summary>The next part of the body; a body that is not well-formed multipart is the client's error, not ours.</summary>
    private static async Task<MultipartSection?> ReadSectionAsync(MultipartReader reader, CancellationToken ct)
    {
        try
        {
            return await reader.ReadNextSectionAsync(ct);
        }
        catch (Exception e) when (AttachmentStore.IsMalformedBody(e, ct))
        {
            throw AttachmentStore.Malformed();
        }
    }

    private static async Task<IResult> DownloadAsync(string id, HttpContext http, CurrentUser user, Access access, AttachmentStore store, CancellationToken ct)
    {
        var attachment = await access.AttachmentAsync(user, id, ct);
        var inline = FileTypes.IsInline(attachment.ContentType);
        // nosniff and no-store come with every /v1 answer (SecurityHeaders).
        var headers = http.Response.Headers;
        headers.ContentSecurityPolicy = "default-src 'none'; sandbox";
        var disposition = new ContentDispositionHeaderValue(inline ? "inline" : "attachment");
        disposition.SetHttpFileName(attachment.Name);
        headers.ContentDisposition = disposition.ToString();
        // Anything a browser could run is sent as a download of an opaque type.
        var contentType = inline ? attachment.ContentType : FileTypes.Binary;
        return TypedResults.File(store.OpenRead(attachment.Sha256), contentType, enableRangeProcessing: true);
    }
}

/// <summary>
/// The stored uploads: a row per upload, a file per content. A row is inserted before its file is put in place, and
/// the sweeper moves a file aside before it asks the last time whether any row needs it (<see cref="ForgetFileAsync"/>),
/// so an upload of the same content at that moment always ends with its file on disk.
/// </summary>
public sealed class AttachmentStore(Db db, TimeProvider clock, UploadLimits limits, IOptions<ServerOptions> server, IOptions<MessageOptions> options)
{
    private const string TempPrefix = "upload-";
    private const string AsidePrefix = "sweep-";

    private string Root => Path.Combine(Path.GetFullPath(server.Value.DataDirectory), "attachments");

    public Stream OpenRead(string sha256) =>
        new FileStream(PathOf(sha256), FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, useAsync: true);

    private string PathOf(string sha256) => Path.Combine(Root, sha256[..2], sha256);

    public async Task CheckLimitsAsync(CurrentUser user, string? storeId, string language, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        await limits.CheckAsync(connection, null, user.OrgId, user.Id, storeId, 0, language, ct);
    }

    /// <summary>A read of the request body failed because the body is not what it claims (truncated, bad part headers).</summary>
    internal static bool IsMalformedBody(Exception e, CancellationToken ct) =>
        !ct.IsCancellationRequested && e is InvalidDataException or IOException and not BadHttpRequestException;

    internal static ApiException Malformed() =>
        ApiException.Invalid("The body is not well-formed multipart/form-data; send the file in a field named 'file'.");

    public async Task<AttachmentRow> SaveAsync(CurrentUser user, string? storeId, Stream body, string name, string? declaredType, string language,
        CancellationToken ct)
    {
        var limit = options.Value.MaxAttachmentBytes;
        Directory.CreateDirectory(Root);
        var temp = Path.Combine(Root, $"{TempPrefix}{Guid.NewGuid():N}.tmp");
        try
        {
            long size = 0;
            var head = new byte[FileTypes.HeaderLength];
            var headLength = 0;
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, useAsync: true))
            {
                var buffer = new byte[64 * 1024];
                int read;
                while ((read = await ReadAsync(body, buffer, ct)) > 0)
                {
                    size += read;
                    if (size > limit)
                        throw new ApiException(ErrorCodes.TooLarge, $"Attachments are at most {limit / (1024 * 1024)} MB.");
                    if (headLength < head.Length)
                    {
                        var take = Math.Min(read, head.Length - headLength);
                        buffer.AsSpan(0, take).CopyTo(head.AsSpan(headLength));
                        headLength += take;
                    }
                    sha.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), ct);
                }
                await file.FlushAsync(ct);
                file.Flush(flushToDisk: true);
            }
            if (size == 0)
                throw ApiException.Invalid("The file is empty.");
            var contentType = FileTypes.Decide(declaredType, FileTypes.Sniff(head.AsSpan(0, headLength)))
                ?? throw ApiException.Invalid("The file's content does not match its declared type.");

            var sha256 = Convert.ToHexStringLower(sha.GetHashAndReset());
            var row = new AttachmentRow
            {
                Id = Ids.New("att", clock), OrgId = user.OrgId, UploaderId = user.Id, StoreId = storeId, Name = FileTypes.CleanName(name),
                ContentType = contentType, Size = size, Sha256 = sha256, CreatedAt = clock.GetUtcNow().ToUnixTimeMilliseconds(),
            };
            await db.InTransactionAsync(async (c, t) =>
            {
                await limits.CheckAsync(c, t, row.OrgId, row.UploaderId, storeId, size, language, ct);
                await c.ExecuteAsync(new CommandDefinition(
                    $"INSERT INTO attachments ({AttachmentRow.Columns}) VALUES (@Id, @OrgId, @UploaderId, @StoreId, @Name, @ContentType, @Size, @Sha256, @CreatedAt)",
                    row, t, cancellationToken: ct));
            }, ct);
            // After the row: from now on the sweeper keeps (or puts back) the file of this content.
            var target = PathOf(sha256);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (!File.Exists(target))
                File.Move(temp, target, overwrite: true);
            return row;
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
        }
    }

    private static async ValueTask<int> ReadAsync(Stream body, byte[] buffer, CancellationToken ct)
    {
        try
        {
            return await body.ReadAsync(buffer, ct);
        }
        catch (Exception e) when (IsMalformedBody(e, ct))
        {
            throw Malformed();
        }
    }

    /// <summary>
    /// Removes the file of <paramref name="sha256"/> if no row refers to it any more. The file is moved aside first and
    /// put back if a row turned up meanwhile: an upload of the same content inserts its row before it looks for the file.
    /// </summary>
    public async Task ForgetFileAsync(string sha256, CancellationToken ct)
    {
        if (await AnyRowOfAsync(sha256, ct))
            return;
        var aside = Path.Combine(Root, $"{AsidePrefix}{sha256}-{Guid.NewGuid():N}.tmp");
        try
        {
            File.Move(PathOf(sha256), aside);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return;
        }
        await SettleAsideAsync(aside, sha256, ct);
    }

    private async Task<bool> AnyRowOfAsync(string sha256, CancellationToken ct) =>
        await db.QuerySingleOrDefaultAsync<long?>("SELECT 1 FROM attachments WHERE sha256 = @sha256 LIMIT 1", new { sha256 }, ct) is not null;

    private async Task SettleAsideAsync(string aside, string sha256, CancellationToken ct)
    {
        if (await AnyRowOfAsync(sha256, ct))
            File.Move(aside, PathOf(sha256), overwrite: true);
        else
            File.Delete(aside);
    }

    /// <summary>
    /// Leftovers of a process that stopped mid-way: uploads cut off more than <paramref name="age"/> ago go; a file set
    /// aside by a sweep is settled as that sweep would have. Ages are the file system's, so they are read against real time.
    /// </summary>
    public async Task CleanUpLeftoversAsync(TimeSpan age, CancellationToken ct)
    {
        if (!Directory.Exists(Root))
            return;
        foreach (var path in Directory.EnumerateFiles(Root, "*.tmp"))
        {
            var file = Path.GetFileNameWithoutExtension(path);
            var written = File.GetLastWriteTimeUtc(path);
            if (file.StartsWith(TempPrefix, StringComparison.Ordinal) && written < DateTime.UtcNow - age)
                File.Delete(path);
            else if (file.StartsWith(AsidePrefix, StringComparison.Ordinal) && written < DateTime.UtcNow.AddMinutes(-1) && file.Length > AsidePrefix.Length + 64)
                await SettleAsideAsync(path, file.Substring(AsidePrefix.Length, 64), ct);
        }
    }
}
