#!/usr/bin/perl
# A multiplexing FastCGI worker on Net::Async::FastCGI (Debian:
# libnet-async-fastcgi-perl 0.25, IO::Async event loop, one process).
#
#   perl examples/perl/worker.pl 127.0.0.1:9300 [NAME]
#
# What Net::Async::FastCGI 0.25 does on the wire (checked with
# examples/mux_probe.py, see examples/README.md):
#   - FCGI_GET_VALUES: FCGI_MPXS_CONNS=1, FCGI_MAX_CONNS=1024,
#     FCGI_MAX_REQS=1024 ($Net::Async::FastCGI::MAX_CONNS / MAX_REQS; the
#     MAX_CONNS / MAX_REQS env vars change what it announces, it enforces
#     neither).
#   - It truly interleaves: requests on one connection are independent
#     (a /sleep on one id does not hold back another id's answer); its
#     output for all of them shares one write queue.
#   - A request is handed to the application only when PARAMS and STDIN are
#     both complete (the body is buffered in memory).
#   - FCGI_ABORT_REQUEST is NOT exposed: the library warns "just received
#     unknown record type" and lets the request run on. This worker hooks
#     the record (a subclass of its ServerProtocol), logs
#     "aborted id=N uri=..." (stderr, or appended to $WORKER_ABORT_LOG),
#     stops the request's work and finishes it (FCGI_END_REQUEST).
#   - Without FCGI_KEEP_CONN it closes the connection after END_REQUEST.
#
# Endpoints: /hello, /echo (POST: the body back), /bytes?n=N (N bytes of 'x'
# in 64 KiB pieces, each produced only when the connection's write queue is
# idle), /sleep?ms=N, /tag?t=X (X; &ms=N answers
# after N ms), /healthz. Every response has
# X-Worker: NAME.
use strict;
use warnings;

use IO::Async::Loop;
use Socket ();
use IO::Async::Timer::Countdown;
use Net::Async::FastCGI;
use Net::FastCGI::Constant qw( FCGI_ABORT_REQUEST );

my ( $addr, $name ) = @ARGV;
$addr //= "127.0.0.1:9300";
$name //= $ENV{WORKER_NAME} // "perl";
my ( $host, $port ) = $addr =~ /^(.*):(\d+)$/ or die "usage: $0 HOST:PORT [NAME]\n";

$Net::Async::FastCGI::MAX_CONNS = $ENV{MAX_CONNS} if $ENV{MAX_CONNS};
$Net::Async::FastCGI::MAX_REQS  = $ENV{MAX_REQS}  if $ENV{MAX_REQS};

$| = 1;
my $abort_log = $ENV{WORKER_ABORT_LOG} // "";
sub log_abort {
   my ( $line ) = @_;
   if( length $abort_log ) {
      open my $fh, ">>", $abort_log or die "$abort_log: $!";
      print $fh "$line\n";
      close $fh;
   }
   else {
      print STDERR "$line\n";
   }
}

# Per request: what to undo when FCGI_ABORT_REQUEST arrives.
my %cancel; # "$req" => sub { ... }

package My::ServerProtocol {
   use parent -norequire, 'Net::Async::FastCGI::ServerProtocol';
   use Net::FastCGI::Constant qw( FCGI_ABORT_REQUEST );

   sub on_record {
      my ( $self, $reqid, $rec ) = @_;
      if( $rec->{type} == FCGI_ABORT_REQUEST ) {
         my $req = $self->{reqs}->{$reqid};
         main::log_abort( "aborted id=$reqid uri=" . ( $req ? ( $req->param( "REQUEST_URI" ) // "" ) : "" ) );
         return unless $req;
         if( my $undo = delete $cancel{"$req"} ) { $undo->() }
         $req->finish( 0 ) unless $req->is_aborted;
         return;
      }
      return $self->SUPER::on_record( $reqid, $rec );
   }
}

package My::FastCGI {
   use parent -norequire, 'Net::Async::FastCGI';
   sub on_stream {
      my ( $self, $stream ) = @_;
      # Records are written one by one: without TCP_NODELAY the last small
      # ones of a response can wait for the gateway's delayed ACK.
      $stream->read_handle->setsockopt( Socket::IPPROTO_TCP(), Socket::TCP_NODELAY(), 1 );
      $self->add_child( My::ServerProtocol->new( transport => $stream, fcgi => $self ) );
   }
}

package main;

my $loop = IO::Async::Loop->new;

sub query {
   my ( $qs ) = @_;
   my %q;
   for my $kv ( split /&/, $qs // "" ) {
      my ( $k, $v ) = split /=/, $kv, 2;
      $v //= "";
      s/\+/ /g, s/%([0-9A-Fa-f]{2})/chr hex $1/ge for $k, $v;
      $q{$k} = $v;
   }
   return \%q;
}

sub answer {
   my ( $req, $status, $body, $type ) = @_;
   $type //= "text/plain";
   $req->print_stdout( "Status: $status\r\nContent-Type: $type\r\n"
      . "Content-Length: " . length( $body ) . "\r\nX-Worker: $name\r\n\r\n$body" );
   $req->finish( 0 );
}

sub on_request {
   my ( $fcgi, $req ) = @_;
   $req->set_encoding( undef ); # bytes in, bytes out
   my $path = $req->param( "PATH_INFO" ) // "";
   $path = ( split /\?/, $req->param( "REQUEST_URI" ) // "/" )[0] if $path eq "";
   my $q = query( $req->param( "QUERY_STRING" ) );

   return answer( $req, 200, "hello from $name\n" ) if $path eq "/hello";
   return answer( $req, 200, "ok\n" ) if $path eq "/healthz";
   return answer( $req, 200, $q->{t} // "" ) if $path eq "/tag" and !$q->{ms};
   if( $path eq "/echo" ) {
      my $body = $req->read_stdin( 1 << 30 ) // "";
      return answer( $req, 200, $body, "application/octet-stream" );
   }
   if( $path eq "/sleep" or $path eq "/tag" ) {
      my $ms = int( $q->{ms} // 0 );
      my $text = $path eq "/tag" ? $q->{t} // "" : "slept $ms\n";
      my $timer = IO::Async::Timer::Countdown->new(
         delay => $ms / 1000,
         on_expire => sub {
            my $self = shift;
            delete $cancel{"$req"};
            answer( $req, 200, $text ) unless $req->is_aborted;
            $loop->remove( $self );
         },
      );
      $cancel{"$req"} = sub { $timer->stop; $loop->remove( $timer ) };
      $loop->add( $timer->start );
      return;
   }
   if( $path eq "/bytes" ) {
      my $left = int( $q->{n} // 0 );
      my $piece = "x" x 65536;
      $req->print_stdout( "Status: 200\r\nContent-Type: application/octet-stream\r\n"
         . "Content-Length: $left\r\nX-Worker: $name\r\n\r\n" );
      $cancel{"$req"} = sub { $left = 0 };
      # The library calls this whenever the connection's write queue is
      # empty; undef ends the stream and finishes the request.
      $req->stream_stdout_then_finish( sub {
         if( $left <= 0 ) { delete $cancel{"$req"}; return undef }
         my $n = $left < 65536 ? $left : 65536;
         $left -= $n;
         return $n == 65536 ? $piece : substr( $piece, 0, $n );
      }, 0 );
      return;
   }
   return answer( $req, 404, "not found\n" );
}

my $fcgi = My::FastCGI->new( on_request => \&on_request, default_encoding => undef );
$loop->add( $fcgi );
$fcgi->listen(
   host => $host,
   service => $port,
   on_listen => sub {
      my ( $listener ) = @_;
      my $sock = $listener->read_handle;
      printf STDERR "event=listening addr=%s:%d worker=%s\n", $host, $sock->sockport, $name;
   },
   on_resolve_error => sub { die "Cannot resolve - $_[-1]\n" },
   on_listen_error  => sub { die "Cannot listen - $_[-1]\n" },
);
$SIG{TERM} = $SIG{INT} = sub { exit 0 };
$loop->run;
