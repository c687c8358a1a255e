# A WSGI upstream on Python's own wsgiref server, for what CGI-style servers do with header names:
# wsgiref (like CGI, PHP-FPM, Rack and older gunicorn) files `X-Foo` and `X_Foo` under the same
# environ key HTTP_X_FOO. The app honours X-HTTP-Method-Override on POST, as Rack::MethodOverride
# and werkzeug's HTTPMethodOverrideMiddleware do, and `_method` in a POST's form body or query, as
# Symfony and Laravel do; it records every request it acted on.
# Usage: python3 wsgi-upstream.py <bearer token>; prints the port it listens on.
import json
import sys
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

TOKEN = sys.argv[1]
log = []


def app(environ, start_response):
    method = environ['REQUEST_METHOD']
    if method == 'POST' and environ.get('HTTP_X_HTTP_METHOD_OVERRIDE'):
        method = environ['HTTP_X_HTTP_METHOD_OVERRIDE'].upper()
    # Symfony's and Laravel's `_method`, from the form body or the query (parse_qs as they parse).
    if method == 'POST':
        params = parse_qs(environ.get('QUERY_STRING', ''))
        if environ.get('CONTENT_TYPE', '').startswith('application/x-www-form-urlencoded'):
            length = int(environ.get('CONTENT_LENGTH') or 0)
            params.update(parse_qs(environ['wsgi.input'].read(length).decode('latin-1')))
        if '_method' in params:
            method = params['_method'][0].upper()
    path = environ.get('PATH_INFO', '')
    if path == '/__log':
        body = json.dumps(log).encode()
    elif environ.get('HTTP_AUTHORIZATION') != 'Bearer ' + TOKEN:
        start_response('401 Unauthorized', [('content-type', 'application/json')])
        return [b'{"error":"unauthorized"}']
    else:
        log.append({'method': method, 'path': path})
        body = json.dumps({'method': method, 'path': path}).encode()
    start_response('200 OK', [('content-type', 'application/json'), ('content-length', str(len(body)))])
    return [body]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


server = make_server('127.0.0.1', 0, app, handler_class=Quiet)
print(server.server_port, flush=True)
server.serve_forever()
