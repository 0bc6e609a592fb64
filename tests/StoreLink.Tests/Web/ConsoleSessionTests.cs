using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Web;

/// <summary>
/// The console's cookie session against the real server: the sign-in form, the cookie that opens the pages and carries
/// an ordinary access token for the page's script, antiforgery on every form post, sign-out that revokes the token.
/// </summary>
public sealed partial class ConsoleSessionTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    /// <summary>A browser-like client: keeps cookies, does not follow redirects (so the tests see them).</summary>
    private static HttpClient Browser(StoreLinkApp app) =>
        app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    private static HttpClient Browser(Uri server)
    {
        var handler = new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() };
        return new HttpClient(handler) { BaseAddress = server };
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    [GeneratedRegex("<meta name=\"storelink-token\" content=\"([^\"]+)\"")]
    private static partial Regex TokenMeta();

    private static async Task<string> FormTokenAsync(HttpClient browser, string path)
    {
        var html = await browser.GetStringAsync(path);
        return AntiforgeryField().Match(html).Groups[1].Value;
    }

    private static Task<HttpResponseMessage> PostFormAsync(HttpClient browser, string path, params (string Name, string Value)[] fields) =>
        browser.PostAsync(path, new FormUrlEncodedContent(fields.Select(f => KeyValuePair.Create(f.Name, f.Value))));

    private static async Task<HttpResponseMessage> SignInAsync(HttpClient browser, string login, string password = "demo1234", string? returnUrl = null)
    {
        var token = await FormTokenAsync(browser, "/console/login");
        return await PostFormAsync(browser, "/console/login",
            ("login", login), ("password", password), ("return_url", returnUrl ?? ""), ("__RequestVerificationToken", token));
    }

    private static async Task<string> PageTokenAsync(HttpClient browser)
    {
        var page = await browser.GetAsync("/console");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        return TokenMeta().Match(await page.Content.ReadAsStringAsync()).Groups[1].Value;
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Signing_in_on_the_form_sets_a_session_cookie_that_opens_the_console_and_hands_the_page_a_working_token(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var browser = Browser(app);

        var before = await browser.GetAsync("/console?c=abc");
        Assert.Equal(HttpStatusCode.Redirect, before.StatusCode);
        Assert.Equal("/console/login?return_url=%2Fconsole%3Fc%3Dabc", before.Headers.Location!.OriginalString);

        var signIn = await SignInAsync(browser, "Agent.Digital@demo.local", returnUrl: "/console?c=abc");
        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        Assert.Equal("/console?c=abc", signIn.Headers.Location!.OriginalString);
        var cookie = Assert.Single(signIn.Headers.GetValues("Set-Cookie"), c => c.StartsWith("storelink_console=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/console", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=lax", cookie, StringComparison.OrdinalIgnoreCase);

        var page = await browser.GetAsync("/console");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.True(page.Headers.CacheControl!.NoStore);
        Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<html lang=\"zh-CN\">", html, StringComparison.Ordinal);
        Assert.Contains("退出登录", html, StringComparison.Ordinal);
        Assert.Contains("/console/assets/js/inbox.js", html, StringComparison.Ordinal);

        // The page's token is an ordinary access token of the signed-in staff member.
        var token = TokenMeta().Match(html).Groups[1].Value;
        Assert.StartsWith("sla_", token, StringComparison.Ordinal);
        var me = await app.WithToken(token).GetJsonAsync("/v1/me");
        Assert.Equal((200, "agent.digital@demo.local"), (me.Status, (await app.WithToken(token).GetJsonAsync($"/v1/staff/{me.Str("id")}")).Str("login")));

        // The cookie itself is no credential for the API: REST and the socket take bearer tokens only.
        var cookieOnly = await browser.GetAsync("/v1/me");
        Assert.Equal(HttpStatusCode.Unauthorized, cookieOnly.StatusCode);

        // The manager pages are behind the same session; the assets are public files.
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/console/manage/queues")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await browser.GetAsync("/console/manage/nothing")).StatusCode);
        var script = await app.Anonymous().GetAsync("/console/assets/js/inbox.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType!.MediaType);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_wrong_password_shows_the_form_again_with_an_error_and_no_session(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var browser = Browser(app);

        var wrong = await SignInAsync(browser, "agent.digital@demo.local", "not-the-password");
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.DoesNotContain(wrong.Headers.TryGetValues("Set-Cookie", out var set) ? set : [], c => c.StartsWith("storelink_console=", StringComparison.Ordinal));
        var html = await wrong.Content.ReadAsStringAsync();
        Assert.Contains("账号或密码错误。", html, StringComparison.Ordinal);
        Assert.Contains("value=\"agent.digital@demo.local\"", html, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Redirect, (await browser.GetAsync("/console")).StatusCode);

        var empty = await SignInAsync(browser, "", "");
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        Assert.Contains("请填写账号和密码。", await empty.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The form counts failures like the API: past the limit even the right password is refused for a while.
        for (var i = 0; i < 4; i++)
            Assert.Equal(HttpStatusCode.Unauthorized, (await SignInAsync(browser, "agent.digital@demo.local", "nope")).StatusCode);
        var limited = await SignInAsync(browser, "agent.digital@demo.local");
        Assert.Equal((HttpStatusCode)429, limited.StatusCode);
        Assert.Contains("尝试次数过多", await limited.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // A stolen or forged cookie value is no session.
        var forged = Browser(app);
        forged.DefaultRequestHeaders.Add("Cookie", "storelink_console=sla_forged_value_of_the_right_length");
        Assert.Equal(HttpStatusCode.Redirect, (await forged.GetAsync("/console")).StatusCode);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Form_posts_without_the_antiforgery_token_are_refused(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);

        // Sign-in without the token (a cross-site form would look like this) is refused, nothing is issued.
        var noToken = Browser(app);
        await noToken.GetAsync("/console/login");
        var refused = await PostFormAsync(noToken, "/console/login", ("login", "agent.digital@demo.local"), ("password", "demo1234"));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.False(refused.Headers.TryGetValues("Set-Cookie", out var cookies) && cookies.Any(c => c.StartsWith("storelink_console=", StringComparison.Ordinal)));

        // A token taken from another browser (without its antiforgery cookie) is refused too.
        var other = Browser(app);
        var stolen = await FormTokenAsync(other, "/console/login");
        var fresh = Browser(app);
        var crossed = await PostFormAsync(fresh, "/console/login", ("login", "agent.digital@demo.local"), ("password", "demo1234"), ("__RequestVerificationToken", stolen));
        Assert.Equal(HttpStatusCode.BadRequest, crossed.StatusCode);

        // Sign-out without the token does not sign out.
        var browser = Browser(app);
        Assert.Equal(HttpStatusCode.Redirect, (await SignInAsync(browser, "agent.digital@demo.local")).StatusCode);
        var token = await PageTokenAsync(browser);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostFormAsync(browser, "/console/logout")).StatusCode);
        Assert.Equal(200, (await app.WithToken(token).GetJsonAsync("/v1/me")).Status);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/console")).StatusCode);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Signing_out_revokes_the_token_and_closes_the_pages_sockets(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var browser = Browser(app.ServerUri);
        Assert.Equal(HttpStatusCode.Redirect, (await SignInAsync(browser, "manager.digital@demo.local")).StatusCode);
        var token = await PageTokenAsync(browser);
        await using var socket = await app.ConnectAsync(token);
        await using var other = await app.ConnectAsync(token);

        var html = await browser.GetStringAsync("/console");
        var formToken = AntiforgeryField().Match(html).Groups[1].Value;
        var logout = await PostFormAsync(browser, "/console/logout", ("__RequestVerificationToken", formToken));
        Assert.Equal(HttpStatusCode.Redirect, logout.StatusCode);
        Assert.Equal("/console/login", logout.Headers.Location!.OriginalString);

        Assert.Equal(4001, (await socket.ClosedAsync()).Code);
        Assert.Equal(4001, (await other.ClosedAsync()).Code);
        var me = await app.WithToken(token).GetJsonAsync("/v1/me");
        Assert.Equal((401, "unauthorized"), (me.Status, me.Code));
        Assert.Equal(HttpStatusCode.Redirect, (await browser.GetAsync("/console")).StatusCode);
        // The old cookie, replayed by hand, is dead as well.
        var replay = new HttpClient { BaseAddress = app.ServerUri };
        replay.DefaultRequestHeaders.Add("Cookie", $"storelink_console={token}");
        var replayed = await replay.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/console"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Contains("/console/login", replayed.RequestMessage!.RequestUri!.AbsolutePath, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_language_switch_remembers_english_and_never_redirects_off_the_console()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite);
        var browser = Browser(app);
        var zh = await browser.GetStringAsync("/console/login");
        Assert.Contains("<html lang=\"zh-CN\">", zh, StringComparison.Ordinal);
        Assert.Contains("登录", zh, StringComparison.Ordinal);

        var switched = await browser.GetAsync("/console/language?to=en&return_url=/console/login");
        Assert.Equal("/console/login", switched.Headers.Location!.OriginalString);
        var en = await browser.GetStringAsync("/console/login");
        Assert.Contains("<html lang=\"en\">", en, StringComparison.Ordinal);
        Assert.Contains("Sign in", en, StringComparison.Ordinal);

        foreach (var evil in new[] { "https://evil.example/", "//evil.example/console", "/console/../v1/me", "/\\evil.example" })
        {
            var response = await browser.GetAsync($"/console/language?to=zh-CN&return_url={Uri.EscapeDataString(evil)}");
            Assert.Equal("/console", response.Headers.Location!.OriginalString);
        }
        var signIn = await SignInAsync(browser, "agent.digital@demo.local", returnUrl: "https://evil.example/");
        Assert.Equal("/console", signIn.Headers.Location!.OriginalString);
    }

    [Fact]
    public void Both_languages_have_the_same_strings_in_every_file()
    {
        static HashSet<string> Keys(string file, string language)
        {
            var json = StoreLink.Server.Web.Console.ConsoleSetup.Assets.Bytes(string.Format(file, language));
            return JsonDocument.Parse(json).RootElement.EnumerateObject().Select(p => p.Name).ToHashSet();
        }
        var all = new HashSet<string>();
        foreach (var file in StoreLink.Server.Web.Console.ConsoleStrings.Files)
        {
            var zh = Keys(file, "zh-CN");
            Assert.True(zh.Count > 20, file); // the file was read (a feature's own file is smaller than the shell's)
            Assert.Empty(zh.Except(Keys(file, "en")));
            Assert.Empty(Keys(file, "en").Except(zh));
            Assert.Empty(zh.Intersect(all)); // a key lives in one file
            all.UnionWith(zh);
        }
    }
}
